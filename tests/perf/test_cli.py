"""``modelatlas perf run`` end to end against the simulated endpoint: JSON, store, plots, modes."""

from __future__ import annotations

import itertools
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from modelatlas.endpoints.sim import fetch_log
from modelatlas.errors import NotFoundError, UserError
from modelatlas.perf.commands import app
from modelatlas.store.base import open_store
from modelatlas.store.run_tables import CallRow, RunRow

from .conftest import Sim

runner = CliRunner()


def perf(*args: str) -> Any:
    result = runner.invoke(app, ["run", "--no-progress", *args])
    return result


def run_ok(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "out.json"
    result = perf(*args, "--json-out", str(out), "--db", str(tmp_path / "db.sqlite"))
    assert result.exit_code == 0, (result.output, result.exception)
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def test_sequential_json_store_and_plots(sim: Sim, tmp_path: Path) -> None:
    sim.set(ttft_s=0.05, itl_s=0.005, tokens_per_chunk=2)
    plots = tmp_path / "plots"
    doc = run_ok(
        tmp_path,
        "--base-url", sim.url, "--model", "sim", "--workload", "100-300",
        "--requests", "3", "--warmup", "1", "--plots", str(plots),
    )  # fmt: skip
    requests, summary = doc["requests"], doc["summary"]
    assert len(requests) == 4 and [r["warmup"] for r in requests] == [True, False, False, False]
    for r in requests:
        assert {"ttft_s", "ttfat_s", "output_tokens", "output_speed_tps", "e2e_s", "error"} <= set(
            r
        )
        assert r["output_tokens"] == 300 and r["error"] is None and not r["stopped_early"]
        assert r["input_tokens_o200k"] == 100
    assert summary["count"] == 3 and summary["errors"] == 0 and summary["warmup_excluded"] == 1
    for metric in ("ttft_s", "ttfat_s", "output_speed_tps", "e2e_s", "e2e_500_s", "tpot_s"):
        assert {"p50", "p90", "p99"} <= set(summary[metric])
    assert summary["output_speed_tps"]["p50"] == pytest.approx(400, rel=0.05)
    assert summary["workload"] == "100-300" and summary["endpoint"] == "custom/sim"
    assert summary["client_version"] and summary["started_at"]
    assert "percentiles" in summary["definitions"]
    # sequential: never two requests at once on the server
    log = fetch_log(sim.url)
    spans = sorted((e.recv_perf, e.recv_perf + (e.end_s or 0)) for e in log)
    assert all(b[0] >= a[1] - 1e-3 for a, b in itertools.pairwise(spans))
    # plots: well-formed SVGs and one HTML page
    names = {p.name for p in plots.iterdir()}
    assert {"latency-cdf.svg", "itl-cdf.svg", "speed-cdf.svg", "index.html"} <= names
    for svg in plots.glob("*.svg"):
        ET.parse(svg)
    # store: one perf run with its summary, one call row per request with perf facts
    store = open_store(str(tmp_path / "db.sqlite"))
    with store.session() as session:
        [run] = session.scalars(select(RunRow)).all()
        calls = session.scalars(select(CallRow).where(CallRow.run_id == run.id)).all()
        assert run.kind == "perf" and run.status == "done"
        assert run.summary is not None and run.summary["count"] == 3
        assert run.config["workload"] == "100-300" and run.config["mode"] == "sequential"
        assert len(calls) == 4
        assert sum(c.request["perf"]["warmup"] for c in calls) == 1
        assert all(c.ttft_s is not None and c.output_tokens == 300 for c in calls)
        assert all("messages" not in c.request for c in calls)
    store.close()


def test_concurrency_mode_reaches_its_streams(sim: Sim, tmp_path: Path) -> None:
    sim.set(ttft_s=0.05, itl_s=0.02, tokens_per_chunk=5)
    doc = run_ok(
        tmp_path,
        "--base-url", sim.url, "--model", "sim", "--workload", "50-100",
        "--mode", "concurrency", "--concurrency", "8", "--requests", "16", "--warmup", "0",
    )  # fmt: skip
    assert doc["summary"]["count"] == 16 and doc["summary"]["errors"] == 0
    log = fetch_log(sim.url)
    # 8 in flight at the simulator at once
    marks = sorted(
        [(e.recv_perf, 1) for e in log] + [(e.recv_perf + (e.end_s or 0), -1) for e in log]
    )
    peak = cur = 0
    for _, d in marks:
        cur += d
        peak = max(peak, cur)
    assert peak == 8


def test_rate_mode_keeps_the_seeded_schedule(sim: Sim, tmp_path: Path) -> None:
    sim.set(ttft_s=0.02, itl_s=0.01, tokens_per_chunk=5)
    doc = run_ok(
        tmp_path,
        "--base-url", sim.url, "--model", "sim", "--workload", "50-20",
        "--mode", "rate", "--rate", "20", "--arrival", "constant", "--requests", "20",
        "--warmup", "0", "--concurrency", "0",
    )  # fmt: skip
    s = doc["summary"]
    assert s["rate"]["requested_rps"] == 20
    assert s["rate"]["achieved_rps"] == pytest.approx(20, rel=0.05)
    # Each request's lateness against its scheduled send is measured (loaded machine: loose).
    assert s["send_lag_s"]["n"] == 20 and s["send_lag_s"]["p50"] < 0.02
    log = sorted(fetch_log(sim.url), key=lambda e: e.recv_perf)
    gaps = [b.recv_perf - a.recv_perf for a, b in itertools.pairwise(log)]
    assert sorted(gaps)[len(gaps) // 2] == pytest.approx(0.05, abs=0.01)


def test_sweep_and_slo(sim: Sim, tmp_path: Path) -> None:
    sim.set(ttft_s=0.03, itl_s=0.01, tokens_per_chunk=5)
    plots = tmp_path / "plots"
    doc = run_ok(
        tmp_path,
        "--base-url", sim.url, "--model", "sim", "--workload", "50-50",
        "--mode", "sweep", "--max-concurrency", "4", "--requests", "4", "--warmup", "0",
        "--plots", str(plots),
    )  # fmt: skip
    s = doc["summary"]
    assert [lv["level"] for lv in s["levels"]] == [1, 2, 4]
    tputs = [lv["throughput"]["output_tokens_per_s"] for lv in s["levels"]]
    assert tputs[2] > tputs[0] * 2  # the simulator does not saturate
    assert s["sweep"]["saturation_level"] == 4
    assert (plots / "throughput-vs-load.svg").exists()
    doc = run_ok(
        tmp_path,
        "--base-url", sim.url, "--model", "sim", "--workload", "50-50",
        "--mode", "slo", "--slo", "ttft_s:p99<=5", "--max-concurrency", "4",
        "--requests", "4", "--warmup", "0",
    )  # fmt: skip
    s = doc["summary"]
    assert s["slo"]["best_level"] == 4 and s["slo"]["probes"] == [1, 2, 4]
    assert s["goodput"]["good_fraction"] == 1.0


def test_several_processes_merge(sim: Sim, tmp_path: Path) -> None:
    sim.set(ttft_s=0.05, itl_s=0.02, tokens_per_chunk=4)
    doc = run_ok(
        tmp_path,
        "--base-url", sim.url, "--model", "sim", "--workload", "50-40",
        "--mode", "concurrency", "--concurrency", "4", "--requests", "8", "--warmup", "0",
        "--processes", "2",
    )  # fmt: skip
    reqs = doc["requests"]
    assert len(reqs) == 8 and {r["process"] for r in reqs} == {0, 1}
    assert doc["summary"]["errors"] == 0
    ids = {r["request_id"] for r in reqs}
    assert ids == {e.request_id for e in fetch_log(sim.url)}


def test_user_errors(sim: Sim, tmp_path: Path, free_port: str) -> None:
    result = perf("--base-url", sim.url, "--model", "sim", "--workload", "lots", "--no-store")
    assert isinstance(result.exception, NotFoundError)
    result = perf("--base-url", sim.url, "--model", "sim", "--mode", "fast", "--no-store")
    assert isinstance(result.exception, UserError)
    result = perf("--base-url", sim.url, "--mode", "slo", "--model", "sim", "--no-store")
    assert isinstance(result.exception, UserError) and "--slo" in str(result.exception)
    result = perf("--base-url", free_port, "--model", "m", "--workload", "10-5", "--no-store")
    assert isinstance(result.exception, UserError) and free_port in str(result.exception)
    result = perf("--base-url", sim.url, "--model", "m", "--api-key-env", "NO_SUCH_KEY_X")
    assert isinstance(result.exception, UserError) and "NO_SUCH_KEY_X" in str(result.exception)


def test_managed_sim_endpoint_from_the_catalog(tmp_path: Path) -> None:
    doc = run_ok(tmp_path, "--endpoint", "sim/simulated", "--workload", "20-10", "--requests", "2")
    assert doc["summary"]["endpoint"] == "sim/simulated"
    assert doc["summary"]["count"] == 2 and doc["summary"]["errors"] == 0


@pytest.fixture
def free_port() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
