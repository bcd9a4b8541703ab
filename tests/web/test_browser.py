"""The pages in a real browser (Debian's Chromium driven by Playwright): facts, the class
comparison sentence and every chart render, with no console errors; screenshots are saved."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelatlas.store.base import Store
from modelatlas.web.app import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _charts_rendered(page: Any) -> tuple[int, int]:
    """(chart divs, chart divs with a rendered Plotly SVG)."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('div.plot')].every(d => d.dataset.rendered)",
        timeout=30_000,
    )
    total = page.locator("div.plot").count()
    rendered = page.locator("div.plot svg.main-svg").evaluate_all(
        "els => new Set(els.map(e => e.closest('div.plot').id)).size"
    )
    return total, int(rendered)


def test_qwen3_vl_4b_reasoning_page(
    reported_store: Store,
    browser: Any,
    live_server: Callable[[Any], Any],
    watch: Callable[[Any], Any],
    screenshot_dir: Path,
) -> None:
    with live_server(create_app(reported_store)) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        seen = watch(page)
        response = page.goto(f"{server.url}/models/qwen3-vl-4b-reasoning/")
        assert response is not None and response.status == 200

        assert page.locator("h1").inner_text() == "Qwen3 VL 4B (Reasoning)"
        facts = page.locator("table.facts").inner_text()
        for expected in (
            "Reasoning\tYes",
            "text, image",
            "256k tokens (~384 A4 pages of size 12 Arial)",
            "4.4B",
            "Apache-2.0",
            "https://huggingface.co/Qwen/Qwen3-VL-4B-Thinking",
        ):
            assert expected in facts
        notice = page.locator("p.notice").inner_text()
        assert "Alibaba has launched a newer model, Qwen3.5 4B (Reasoning)" in notice
        assert "we suggest considering this model instead." in notice

        narrative = page.locator("#narrative").inner_text()
        assert "scores 7.9 on the Intelligence Index" in narrative
        assert "among comparable models (averaging" in narrative
        assert "open-weights reasoning and non-reasoning models of size class Tiny" in narrative
        assert "price is unknown" in narrative and "never free" in narrative

        card = page.locator("[data-card=intelligence_index]").inner_text()
        assert "7.9" in card and "reported" in card and "aa-v4.1" in card and "2026-07-31" in card

        total, rendered = _charts_rendered(page)
        assert total >= 12  # index, 10 evaluations, context, size
        assert rendered == total
        # Sections without data say so.
        assert "No data." in page.locator("#section-speed").inner_text()
        # Every chart names its source.
        captions = page.locator("figure.chart .caption").all_inner_texts()
        assert len(captions) == total and all("Sources:" in c for c in captions)
        page.screenshot(path=str(screenshot_dir / "qwen3-vl-4b-reasoning.png"), full_page=True)
        assert seen.errors == []
        assert seen.dialogs == []
        page.close()


def test_leaderboard_and_compare(
    reported_store: Store,
    browser: Any,
    live_server: Callable[[Any], Any],
    watch: Callable[[Any], Any],
    screenshot_dir: Path,
) -> None:
    with live_server(create_app(reported_store)) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        seen = watch(page)
        page.goto(f"{server.url}/")
        rows = page.locator("#leaderboard tbody tr")
        assert rows.count() >= 589
        # Filter in the browser: open-weights tiny models only.
        page.select_option("select[data-filter=size_class]", "tiny")
        visible = page.locator("#leaderboard tbody tr:not([hidden])")
        names = visible.locator("td:nth-child(2)").all_inner_texts()
        assert "Qwen3 VL 4B (Reasoning)" in names
        assert "GPT-5" not in names
        page.select_option("select[data-filter=size_class]", "")
        # Sort by output speed (click twice: descending, then ascending).
        page.locator("th", has_text="Output speed").click()
        first = page.locator("#leaderboard tbody tr").first.locator("td").nth(5).inner_text()
        assert first != "-"
        page.screenshot(path=str(screenshot_dir / "leaderboard.png"))
        # Pick two models and compare.
        page.locator("input.pick[value=qwen3-vl-4b-reasoning]").check()
        page.locator("input.pick[value=qwen3-vl-4b-instruct]").check()
        page.locator("#compare-button").click()
        page.wait_for_url("**/compare/?models=*")
        table = page.locator("#compare-table").inner_text()
        assert "Qwen3 VL 4B (Reasoning)" in table and "Qwen3 VL 4B Instruct" in table
        assert "7.9 (reported, aa-v4.1)" in table
        total, rendered = _charts_rendered(page)
        assert total >= 1 and rendered == total
        page.screenshot(path=str(screenshot_dir / "compare.png"), full_page=True)
        assert seen.errors == []
        page.close()
