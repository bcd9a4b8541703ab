"""Fixtures for the web tests: a store with the reported fixture imported (by the catalog's
public importer, ``modelatlas.catalog.reported.import_reported``), servers on 127.0.0.1 and free
ports, Chromium through Playwright."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
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


def import_reported_fixture(store: Store) -> None:
    """Import the reference snapshot with the catalog's public importer."""
    from modelatlas.catalog.reported import import_reported

    import_reported(store, FIXTURE)


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
