"""Hostile text renders as text: a model name from the user's catalog file, a provider name and
a model's answer (a stored call) show up literally, and nothing they contain runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelatlas.store.base import Store
from modelatlas.store.run_tables import CallRow, RunRow
from modelatlas.web.app import create_app

MODEL_NAME = "<script>alert('name')</script><img src=x onerror=alert('img')>\"</script>"
PROVIDER_NAME = "<img src=x onerror=alert('provider')>ACME"
ANSWER = "</td><script>alert('answer')</script><img src=x onerror=alert('answer')> & done"

CATALOG = f"""
[[providers]]
slug = "evil"
name = {PROVIDER_NAME!r}
base_url = "http://127.0.0.1:9/v1"

[[models]]
slug = "evil-model"
name = '''{MODEL_NAME}'''
creator = "alibaba"
reasoning = false
open_weights = true
total_params = 4_000_000_000
context_window = 8192
license = "<b>MIT</b>"
weights_url = "javascript:alert('url')"

[[endpoints]]
slug = "evil/evil-model"
provider = "evil"
model = "evil-model"
api_model_id = "evil"
prices = {{ input = 0.1, output = 0.2 }}
"""


@pytest.fixture
def hostile_store(reported_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG, encoding="utf-8")
    monkeypatch.setenv("MODELATLAS_CATALOG", str(path))
    now = datetime.now(UTC)
    with reported_store.session() as session:
        session.add(
            RunRow(
                id="perf-evil",
                kind="perf",
                endpoint_slug="evil/evil-model",
                model_slug="evil-model",
                status="done",
                started_at=now,
                finished_at=now,
                client_version="test",
                config={},
                summary={},
            )
        )
        session.add(
            CallRow(
                run_id="perf-evil",
                request_id="perf-evil-0",
                label="<i>label</i>",
                endpoint_slug="evil/evil-model",
                api_model="evil",
                started_at=now,
                stream=True,
                ok=True,
                ttft_s=0.2,
                ttfat_s=0.2,
                e2e_s=1.2,
                output_tokens=50,
                output_speed_tps=50.0,
                answer_text=ANSWER,
            )
        )
    return reported_store


def test_hostile_strings_render_as_text(
    hostile_store: Store,
    browser: Any,
    live_server: Callable[[Any], Any],
    watch: Callable[[Any], Any],
    screenshot_dir: Path,
) -> None:
    with live_server(create_app(hostile_store)) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        seen = watch(page)

        page.goto(f"{server.url}/models/evil-model/")
        assert page.locator("h1").inner_text() == MODEL_NAME
        assert page.title().startswith(MODEL_NAME)
        facts = page.locator("table.facts").inner_text()
        assert "<b>MIT</b>" in facts
        # A javascript: URL is shown as text, never as a link.
        assert page.locator("a[href^='javascript']").count() == 0
        assert "javascript:alert('url')" in facts
        page.wait_for_function(
            "() => [...document.querySelectorAll('div.plot')].every(d => d.dataset.rendered)"
        )
        chart_text = " ".join(page.locator("div.plot svg text").all_text_contents())
        assert "<script>" in chart_text  # the label, as text
        page.screenshot(path=str(screenshot_dir / "xss-model.png"), full_page=True)

        page.goto(f"{server.url}/models/evil-model/providers/")
        endpoints = page.locator("#endpoints").inner_text()
        assert PROVIDER_NAME in endpoints
        answers = page.locator("#responses").inner_text()
        assert "<script>alert('answer')</script>" in answers and "& done" in answers
        assert "<i>label</i>" in answers

        page.goto(f"{server.url}/")
        assert MODEL_NAME in page.locator("#leaderboard").inner_text()

        page.goto(f"{server.url}/compare/?models=evil-model,qwen3-vl-4b-reasoning")
        assert MODEL_NAME in page.locator("#compare-table").inner_text()
        page.wait_for_function(
            "() => [...document.querySelectorAll('div.plot')].every(d => d.dataset.rendered)"
        )

        page.goto(f"{server.url}/models/qwen3-vl-4b-reasoning/")  # evil-model is a Tiny peer
        page.wait_for_function(
            "() => [...document.querySelectorAll('div.plot')].every(d => d.dataset.rendered)"
        )

        # Nothing ran: no dialog, no injected element, no error.
        assert seen.dialogs == []
        assert page.locator("img").count() == 0
        assert seen.errors == []
        page.close()
