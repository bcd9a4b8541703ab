"""The static site: every imported model gets its pages, the build is timed, and the pages work
offline from file:// (charts included: plotly.js is copied, never fetched from a CDN)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelatlas.analysis.atlas import load_atlas
from modelatlas.store.base import Store
from modelatlas.web.commands import site_app
from modelatlas.web.site import build_site

FIXTURE_MODELS = 589


def test_static_site_for_all_imported_models(
    reported_store: Store,
    tmp_path: Path,
    browser: Any,
    watch: Callable[[Any], Any],
    screenshot_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    atlas = load_atlas(reported_store)
    reported_slugs = {e.slug for e in atlas.entries.values() if e.reported}
    assert len(reported_slugs) == FIXTURE_MODELS

    out = tmp_path / "site"
    started = time.perf_counter()
    report = build_site(out, reported_store, atlas=atlas)
    seconds = time.perf_counter() - started
    with capsys.disabled():
        print(
            f"\nstatic site: {report.models} models, {report.files} files, "
            f"{report.bytes / 1e6:.1f} MB in {seconds:.1f} s"
        )

    for slug in reported_slugs:
        assert (out / "models" / slug / "index.html").is_file()
        assert (out / "api" / "v1" / "models" / f"{slug}.json").is_file()
    assert (out / "index.html").is_file() and (out / "static" / "plotly.min.js").is_file()
    listed = json.loads((out / "api" / "v1" / "models.json").read_text())
    assert len(listed) == report.models >= FIXTURE_MODELS
    html = (out / "models" / "qwen3-vl-4b-reasoning" / "index.html").read_text()
    assert "https://cdn" not in html and '<script src="http' not in html

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    seen = watch(page)
    page.route("http*://**", lambda route: route.abort())  # offline: no network at all
    page.goto((out / "models" / "qwen3-vl-4b-reasoning" / "index.html").as_uri())
    page.wait_for_function(
        "() => [...document.querySelectorAll('div.plot')].every(d => d.dataset.rendered)",
        timeout=30_000,
    )
    plots = page.locator("div.plot").count()
    assert plots >= 12
    assert page.locator("div.plot svg.main-svg").count() >= plots
    # Relative links work from file://: follow one to the leaderboard and filter there.
    page.locator("header a.brand").click()
    page.wait_for_selector("#leaderboard")
    page.select_option("select[data-filter=size_class]", "tiny")
    shown = page.locator("#leaderboard tbody tr:not([hidden])").count()
    assert 0 < shown < FIXTURE_MODELS
    page.goto((out / "compare" / "qwen3-vl-4b-reasoning" / "index.html").as_uri())
    assert "Qwen3 VL 4B Instruct" in page.locator("#compare-table").inner_text()
    page.screenshot(path=str(screenshot_dir / "static-compare.png"), full_page=True)
    assert seen.errors == []
    page.close()


def test_site_build_command_with_the_builtin_catalog(tmp_path: Path) -> None:
    result = CliRunner().invoke(site_app, ["build", str(tmp_path / "out"), "--builtin-only"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "models" / "gpt-5" / "index.html").is_file()
    assert "wrote" in result.output
