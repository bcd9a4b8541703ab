"""Measured results from the store: the local model after a demo, windows, eval runs; and the
built-in catalog when the store is empty."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import alembic.config  # noqa: F401  (bind alembic's stdout once, see tests/catalog/conftest.py)
import pytest

from modelatlas.analysis import views
from modelatlas.analysis.atlas import load_atlas
from modelatlas.store.base import Store, open_store
from modelatlas.store.run_tables import CallRow, RunRow

LOCAL = "local/smollm2-135m"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield opened
    opened.close()


def add_run(
    store: Store,
    run_id: str,
    *,
    kind: str,
    when: datetime,
    speeds: list[float],
    ttft: float = 0.05,
    reasoning_tokens: int = 0,
    summary: dict[str, object] | None = None,
) -> None:
    with store.session() as session:
        session.add(
            RunRow(
                id=run_id,
                kind=kind,
                endpoint_slug=LOCAL,
                model_slug="smollm2-135m-instruct",
                status="done",
                started_at=when,
                finished_at=when + timedelta(seconds=10),
                client_version="test",
                config={},
                summary=summary or {},
            )
        )
        for i, speed in enumerate(speeds):
            session.add(
                CallRow(
                    run_id=run_id,
                    request_id=f"{run_id}-{i}",
                    label=f"{kind}-{i}",
                    endpoint_slug=LOCAL,
                    api_model="smollm2",
                    started_at=when + timedelta(seconds=i),
                    stream=True,
                    ok=True,
                    ttft_s=ttft,
                    ttfat_s=ttft,
                    e2e_s=1.0,
                    output_tokens=100,
                    output_speed_tps=speed,
                    o200k_reasoning_tokens=reasoning_tokens,
                    answer_text="Paris is the capital of France.",
                )
            )


def test_empty_store_shows_the_builtin_catalog(store: Store) -> None:
    atlas = load_atlas(store)
    assert "qwen3-vl-4b-reasoning" in atlas.entries
    entry = atlas.entries["smollm2-135m-instruct"]
    assert "output_speed" not in entry.figures
    page = views.model_page(atlas, entry)
    speed = next(s for s in page.sections if s.key == "speed")
    assert speed.charts == [] and speed.empty_reason


def test_demo_results_of_the_local_model_are_shown_as_measured(store: Store) -> None:
    add_run(store, "demo-new", kind="demo", when=NOW, speeds=[100.0, 120.0, 140.0])
    # Older than 72 hours before the latest run: outside the window.
    add_run(store, "perf-old", kind="perf", when=NOW - timedelta(days=5), speeds=[5.0] * 5)
    atlas = load_atlas(store)
    entry = atlas.entries["smollm2-135m-instruct"]
    speed = entry.figures["output_speed"]
    assert speed.value == 120.0
    assert speed.source.kind == "measured"
    assert "local/smollm2-135m" in speed.source.label and "3 calls" in speed.source.label
    assert entry.figures["ttft"].value == pytest.approx(0.05)
    assert entry.e2e_parts == pytest.approx({"input": 0.05, "thinking": 0.0, "answer": 500 / 120})
    page = views.model_page(atlas, entry)
    assert any("120 tokens per second" in p for p in page.narrative)
    latency = next(s for s in page.sections if s.key == "latency")
    assert latency.charts
    endpoint = next(r for r in page.endpoints if r.endpoint == LOCAL)
    assert endpoint.measured_calls == 3 and endpoint.price_note == "self-hosted (no API price)"
    assert "self-hosted" in " ".join(page.narrative)


def test_eval_run_scores_tokens_and_index(store: Store) -> None:
    summary = {
        "sample": True,
        "benchmarks": [
            {"key": "gpqa_diamond", "accuracy": 25.0, "items": 20},
            {"key": "mmlu_pro", "accuracy": 12.5, "items": 40},
        ],
        "indices": [
            {
                "definition": "atlas-v1",
                "title": "modelatlas index",
                "status": "incomplete",
                "value": 10.0,
                "sample": True,
                "sub_indices": {},
            }
        ],
        "tokens": {"output": 12_345},
        "cost": {"total": None},
    }
    add_run(store, "eval-1", kind="eval", when=NOW, speeds=[80.0], summary=summary)
    atlas = load_atlas(store)
    entry = atlas.entries["smollm2-135m-instruct"]
    gpqa = entry.evaluations["gpqa"]
    assert gpqa.value == 25.0 and gpqa.source.kind == "measured" and gpqa.source.sample
    index = entry.figures["intelligence_index"]
    assert index.source.index_version == "atlas-v1" and index.source.sample
    assert "incomplete" in index.source.label
    assert entry.figures["verbosity"].value == 12_345
    assert "cost_to_run_index" not in entry.figures  # unknown price: no cost, never 0
    page = views.model_page(atlas, entry)
    rows = {r.key: r for r in page.evaluations}
    assert rows["gpqa"].index_versions  # a component of the aa indices
    assert "on a sample of the items" in " ".join(page.narrative)
