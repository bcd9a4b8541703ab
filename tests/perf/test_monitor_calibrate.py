"""Monitoring ticks and rolling medians; client calibration and the half-ceiling warning."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelatlas.endpoints.sim import SimConfig
from modelatlas.perf.calibrate import (
    Calibration,
    calibrate,
    calibration_path,
    load_calibration,
    load_warning,
    save_calibration,
)
from modelatlas.perf.commands import app
from modelatlas.perf.monitor import MonitorConfig, figures, model_figures, tick
from modelatlas.store.base import open_store


def test_monitor_ticks_and_rolling_medians(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "db.sqlite"))
    config = MonitorConfig(endpoints=["sim/simulated"], workloads=["20-10"], requests=2)
    first = tick(config, store, seed=1)
    second = tick(config, store, seed=2)
    assert len(first.run_ids) == len(second.run_ids) == 1 and not first.failures
    [row] = figures(store, window_s=3600)
    assert row["endpoint"] == "sim/simulated" and row["runs"] == 2 and row["calls"] == 4
    assert row["ttft_s"] is not None and row["output_speed_tps"] is not None
    assert row["e2e_500_s"] == pytest.approx(row["ttft_s"] + 500 / row["output_speed_tps"])
    [model] = model_figures([row])
    assert model["model"] == "simulated-model" and model["ttft_s"] == row["ttft_s"]
    # outside the window: nothing
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    assert figures(store, window_s=3600, now=later) == []
    bad = tick(MonitorConfig(endpoints=["nope/nothing"], workloads=["20-10"]), store)
    assert bad.failures and "nope/nothing" in bad.failures[0]
    store.close()


def test_monitor_once_cli(tmp_path: Path) -> None:
    out = tmp_path / "fig.json"
    result = CliRunner().invoke(
        app,
        [
            "monitor", "--once", "--endpoint", "sim/simulated", "--workload", "20-10",
            "--db", str(tmp_path / "db.sqlite"), "--json-out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    doc = json.loads(out.read_text())
    assert doc["endpoints"][0]["runs"] == 1 and doc["models"][0]["model"] == "simulated-model"


def test_monitor_file(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('endpoints = ["a/b"]\nworkloads = ["1k-1k"]\ninterval_hours = 1\n')
    cfg = MonitorConfig.from_file(path)
    assert cfg.endpoints == ["a/b"] and cfg.interval_s == 3600 and cfg.window_s == 72 * 3600


def test_calibration_levels_ceiling_and_warning() -> None:
    sim = SimConfig(ttft_s=0.03, itl_s=0.02, tokens_per_chunk=4)
    result = calibrate((1, 4), sim=sim, output_tokens=40)
    assert result.levels[0].concurrency == 1
    first = result.levels[0]
    assert first.errors == 0 and first.accuracy.matched == first.requests - 1
    assert first.streams_peak == 1
    assert result.transport == "wire"
    # The server's TTFT is a part of the client's: the difference is never negative.
    vs_server = first.accuracy.ttft_vs_server_err_p50_s
    assert vs_server is not None and 0 <= vs_server < 0.05
    if result.ceiling_concurrency is not None:
        assert result.ceiling_chunks_per_s and result.ceiling_chunks_per_s > 0
    path = save_calibration(result)
    assert path == calibration_path()
    loaded = load_calibration()
    assert loaded is not None and loaded.levels[0].concurrency == 1
    fake = Calibration(
        measured_at=dt.datetime.now(dt.UTC), ceiling_concurrency=256, ceiling_chunks_per_s=1000
    )
    busy = {"throughput": {"chunks_per_s": 800.0}}
    assert load_warning(busy, 16, 1, fake) is not None
    assert load_warning(busy, 16, 2, fake) is None  # 400 per process: under half
    assert load_warning({"throughput": {"chunks_per_s": 10.0}}, 1, 1, None) is None
    assert load_warning({"throughput": {"chunks_per_s": 10.0}}, 128, 1, None) is not None
    # A calibration of another transport does not vouch for this run's.
    other = load_warning({"throughput": {"chunks_per_s": 10.0}}, 128, 1, fake, "wire")
    assert other is not None and "--transport wire" in other
    assert load_warning({"throughput": {"chunks_per_s": 10.0}}, 128, 1, fake, "aiohttp") is None
