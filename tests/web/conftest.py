"""Fixtures for the web tests: a store with the reported fixture imported, servers on free
ports, Chromium through Playwright.

The reported results are imported with the catalog's public importer
(``modelatlas.catalog.reported.import_reported``). Until that module lands, a minimal stand-in
below writes the same rows (fractions to percent, 0 to unknown, index version aa-v4.1) so the
pages can be tested; it is used only when the importer is missing.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import alembic.config  # noqa: F401  (bind alembic's stdout once, see tests/catalog/conftest.py)
import pytest
import uvicorn

from modelatlas.store.base import Store, open_store

FIXTURE = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "fixtures"
    / "aa_api_v2_llms_models_2026-07-31.json"
)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def _stand_in_import(store: Store, path: Path) -> int:
    """Rows as the reported importer writes them (used only while it does not exist)."""
    from modelatlas.catalog.repository import load_catalog
    from modelatlas.store.reported_tables import ReportedImportRow, ReportedResultRow

    raw = path.read_bytes()
    data = json.loads(raw)["data"]
    catalog = load_catalog(store, use_user_catalog=False)
    snapshot = date(2026, 7, 31)
    index_keys = {
        "artificial_analysis_intelligence_index": "intelligence",
        "artificial_analysis_coding_index": "coding",
        "artificial_analysis_math_index": "math",
    }

    def known(value: Any) -> float | None:
        return float(value) if isinstance(value, int | float) and value > 0 else None

    matched = 0
    with store.session() as session:
        for item in data:
            evals = item.get("evaluations") or {}
            model = catalog.find_model(item["slug"])
            matched += model is not None
            pricing = item.get("pricing") or {}
            session.add(
                ReportedResultRow(
                    source="artificialanalysis",
                    snapshot_date=snapshot,
                    external_id=item["id"],
                    external_slug=item["slug"],
                    name=item["name"],
                    creator_slug=(item.get("model_creator") or {}).get("slug"),
                    creator_name=(item.get("model_creator") or {}).get("name"),
                    release_date=item.get("release_date"),
                    model_slug=model.slug if model else None,
                    index_version="aa-v4.1",
                    evaluations={
                        k: round(v * 100, 4)
                        for k, v in evals.items()
                        if k not in index_keys and isinstance(v, int | float)
                    },
                    indices={
                        index_keys[k]: v
                        for k, v in evals.items()
                        if k in index_keys and isinstance(v, int | float)
                    },
                    price_input=known(pricing.get("price_1m_input_tokens")),
                    price_output=known(pricing.get("price_1m_output_tokens")),
                    price_blended_3_to_1=known(pricing.get("price_1m_blended_3_to_1")),
                    median_output_tps=known(item.get("median_output_tokens_per_second")),
                    median_ttft_s=known(item.get("median_time_to_first_token_seconds")),
                    median_ttfat_s=known(item.get("median_time_to_first_answer_token")),
                    raw=item,
                )
            )
        session.add(
            ReportedImportRow(
                source="artificialanalysis",
                snapshot_date=snapshot,
                path=str(path),
                sha256=hashlib.sha256(raw).hexdigest(),
                index_version="aa-v4.1",
                models=len(data),
                matched=matched,
                notes={"importer": "tests/web stand-in"},
            )
        )
    return len(data)


def import_reported_fixture(store: Store) -> None:
    """Import the reference snapshot with the public importer (stand-in until it exists)."""
    try:
        module = importlib.import_module("modelatlas.catalog.reported")
    except ModuleNotFoundError:
        _stand_in_import(store, FIXTURE)
        return
    module.import_reported(store, FIXTURE)


@pytest.fixture(scope="session")
def reported_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store with the reported fixture imported (built once, copied per use)."""
    if not FIXTURE.is_file():
        pytest.skip(f"reported fixture not found at {FIXTURE}")
    path = tmp_path_factory.mktemp("reported") / "reported.db"
    store = open_store(f"sqlite:///{path}")
    import_reported_fixture(store)
    store.close()
    return path


@pytest.fixture
def reported_store(reported_db: Path, tmp_path: Path) -> Iterator[Store]:
    copy = tmp_path / "store.db"
    shutil.copy(reported_db, copy)
    store = open_store(f"sqlite:///{copy}")
    yield store
    store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A uvicorn server in a thread on 127.0.0.1 and a free port."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server() -> Callable[[Any], LiveServer]:
    return LiveServer


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Chromium (Debian's) driven by Playwright; skipped when either is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (scripts/system-deps.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


class PageWatch:
    """Console errors, page errors and dialogs seen by a Playwright page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on(
            "console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None
        )
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)


@pytest.fixture
def watch() -> Callable[[Any], PageWatch]:
    return PageWatch
