"""Client honesty: how accurately, and up to what load, this machine measures.

Against the simulated endpoint every chunk's send instant is known (the simulator logs
``perf_counter`` just before each write; the host's monotonic clock is shared by processes), so
each figure the client reports can be checked against the truth:

- TTFT error = client TTFT - (simulator's first token chunk ``perf`` - client ``send_perf``):
  how late the client noticed the first token (the request's trip to the server is part of both).
- TTFT vs server = client TTFT - the simulator's own TTFT (receipt of the request's first byte
  -> first token write): what a user of the figures sees, including any delay between the
  client's send stamp and the request reaching the server (a busy client stamps a send and
  writes it late; only the server can see that).
- TTFAT error likewise with the first answer chunk.
- arrival lag = client arrival - simulator send, for every token chunk.
- speed error = client output speed / simulator output speed (from its log) - 1.

``modelatlas perf calibrate`` runs closed-loop loads at increasing concurrency and stores, per
level, the streams, received chunks/s and tokens/s, and these errors, in
``home_dir()/perf-calibration.json``, with the client transport measured (``wire`` or
``aiohttp``). The *ceiling* is the highest level whose median TTFT error and median TTFT vs
server are both at most ``ttft_tol_s`` (2 ms) and whose median |speed error| is at most
``speed_tol`` (1 %); a perf run on the same transport warns when it receives more than half of
the ceiling's chunks/s per process.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import socket
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from modelatlas import __version__
from modelatlas.endpoints.client import EndpointSpec, Transport
from modelatlas.endpoints.records import CallRecord
from modelatlas.endpoints.sim import SimConfig, SimRequestLog, configure, fetch_log, running_sim
from modelatlas.perf.metrics import percentile, summarize
from modelatlas.perf.runner import LoadResult, loop_name, run_load
from modelatlas.perf.schedule import Load, Mode
from modelatlas.perf.workloads import Workload, plan_requests
from modelatlas.settings import home_dir

CALIBRATION_FILE = "perf-calibration.json"
DEFAULT_LEVELS: tuple[int, ...] = (1, 16, 64, 256)
TTFT_TOL_S = 0.002
SPEED_TOL = 0.01


class Accuracy(BaseModel):
    """How a load's client figures compare with the simulator's log (see the module docs)."""

    matched: int
    unmatched: int
    ttft_err_p50_s: float | None = None
    ttft_err_p99_s: float | None = None
    ttfat_err_p50_s: float | None = None
    ttft_median_client_s: float | None = None
    ttft_median_true_s: float | None = None
    ttft_median_server_s: float | None = None
    """Median of the simulator's own receipt -> first token chunk."""
    ttft_vs_server_err_p50_s: float | None = None
    """Median over requests of client TTFT - the simulator's TTFT for the same request."""
    ttft_vs_server_err_p99_s: float | None = None
    arrival_lag_p50_s: float | None = None
    arrival_lag_p99_s: float | None = None
    speed_err_p50: float | None = None
    """Median per-request relative speed error."""
    speed_median_err: float | None = None
    """Relative error of the median speed (what a user reads)."""
    speed_median_client_tps: float | None = None
    speed_median_true_tps: float | None = None
    sim_late_p50_s: float | None = None
    """How late the simulator itself sent first tokens against its schedule (its own load)."""


def _med(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


def compare_with_sim(
    records: Sequence[CallRecord], log: Sequence[SimRequestLog], *, sim_ttft_s: float | None = None
) -> Accuracy:
    """Match records to simulator log entries by request id and measure the client's errors."""
    by_id = {e.request_id: e for e in log if e.request_id}
    ttft_err: list[float] = []
    ttfat_err: list[float] = []
    lags: list[float] = []
    speed_err: list[float] = []
    client_ttft: list[float] = []
    true_ttft: list[float] = []
    server_ttft: list[float] = []
    vs_server: list[float] = []
    client_speed: list[float] = []
    true_speed: list[float] = []
    late: list[float] = []
    matched = 0
    for record in records:
        entry = by_id.get(record.request_id)
        if entry is None or record.error is not None:
            continue
        matched += 1
        sent = entry.token_chunks
        got = [e for e in record.events if e.tokens]
        if not sent or not got or record.ttft_s is None:
            continue
        truth = sent[0].perf - record.send_perf
        ttft_err.append(record.ttft_s - truth)
        client_ttft.append(record.ttft_s)
        true_ttft.append(truth)
        server_ttft.append(sent[0].t_s)
        vs_server.append(record.ttft_s - sent[0].t_s)
        if sim_ttft_s is not None:
            late.append(sent[0].t_s - sim_ttft_s)
        first_answer = next((c for c in sent if c.answer_tokens), None)
        if first_answer is not None and record.ttfat_s is not None:
            ttfat_err.append(record.ttfat_s - (first_answer.perf - record.send_perf))
        if len(got) == len(sent):
            lags.extend(record.send_perf + e.t_s - c.perf for e, c in zip(got, sent, strict=True))
        if record.output_speed_tps is not None and entry.output_speed_tps:
            client_speed.append(record.output_speed_tps)
            true_speed.append(entry.output_speed_tps)
            speed_err.append(record.output_speed_tps / entry.output_speed_tps - 1)
    speed_c, speed_t = _med(client_speed), _med(true_speed)
    return Accuracy(
        matched=matched,
        unmatched=len(records) - matched,
        ttft_err_p50_s=_med(ttft_err),
        ttft_err_p99_s=percentile(ttft_err, 99) if ttft_err else None,
        ttfat_err_p50_s=_med(ttfat_err),
        ttft_median_client_s=_med(client_ttft),
        ttft_median_true_s=_med(true_ttft),
        ttft_median_server_s=_med(server_ttft),
        ttft_vs_server_err_p50_s=_med(vs_server),
        ttft_vs_server_err_p99_s=percentile(vs_server, 99) if vs_server else None,
        arrival_lag_p50_s=_med(lags),
        arrival_lag_p99_s=percentile(lags, 99) if lags else None,
        speed_err_p50=_med(speed_err),
        speed_median_err=(speed_c / speed_t - 1) if speed_c and speed_t else None,
        speed_median_client_tps=speed_c,
        speed_median_true_tps=speed_t,
        sim_late_p50_s=_med(late),
    )


class CalibrationLevel(BaseModel):
    concurrency: int
    requests: int
    errors: int
    streams_peak: int
    chunks_per_s: float | None
    tokens_per_s: float | None
    accuracy: Accuracy
    within_tolerance: bool


class Calibration(BaseModel):
    """A machine's measured client ceiling (``home_dir()/perf-calibration.json``)."""

    measured_at: dt.datetime
    client_version: str = __version__
    machine: dict[str, Any] = Field(default_factory=dict)
    sim: dict[str, Any] = Field(default_factory=dict)
    processes: int = 1
    transport: Transport = "aiohttp"
    """The client transport measured (files written before transports existed: aiohttp)."""
    ttft_tol_s: float = TTFT_TOL_S
    speed_tol: float = SPEED_TOL
    levels: list[CalibrationLevel] = Field(default_factory=list)
    ceiling_concurrency: int | None = None
    ceiling_chunks_per_s: float | None = None
    """Chunks/s per client process at the ceiling."""
    ceiling_tokens_per_s: float | None = None
    limited_by: Literal["client", "simulator"] | None = None
    """Why the level after the ceiling failed: ``simulator`` when the simulator itself sent
    first tokens late (its median lateness past ``ttft_tol_s``) while the client's own stamp
    and speed errors were within tolerance, so the ceiling found is the simulator's and the
    client's is at least as high; ``client`` otherwise; ``None`` when every level passed."""


def machine_info() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loop": loop_name(),
        "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def calibration_path() -> Path:
    return home_dir() / CALIBRATION_FILE


def load_calibration(path: Path | None = None) -> Calibration | None:
    path = path or calibration_path()
    try:
        return Calibration.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None


def save_calibration(calibration: Calibration, path: Path | None = None) -> Path:
    path = path or calibration_path()
    path.write_text(json.dumps(calibration.model_dump(mode="json"), indent=2) + "\n")
    return path


def default_sim_config() -> SimConfig:
    """The calibration schedule: 50 ms TTFT, a 4-token chunk every 20 ms (200 tok/s/stream)."""
    return SimConfig(ttft_s=0.05, itl_s=0.02, tokens_per_chunk=4)


def peak_streams(records: Sequence[CallRecord]) -> int:
    """Most requests in flight at once (by send and end on the perf clock)."""
    marks: list[tuple[float, int]] = []
    for r in records:
        marks.append((r.send_perf, 1))
        marks.append((r.send_perf + (r.end_s or 0.0), -1))
    peak = cur = 0
    for _, d in sorted(marks, key=lambda m: (m[0], m[1])):
        cur += d
        peak = max(peak, cur)
    return peak


def measure_level(
    base_url: str,
    concurrency: int,
    *,
    requests: int | None = None,
    output_tokens: int = 100,
    processes: int = 1,
    sim: SimConfig | None = None,
    seed: int = 0,
    transport: Transport = "wire",
) -> tuple[LoadResult, Accuracy]:
    """One closed-loop load at ``concurrency`` against a running simulator configured with
    ``sim`` (its log cleared first by the caller): ``concurrency`` warm-up requests (one per
    stream, ramped over one request's duration), then ``requests`` (default ``2 x
    concurrency``, at least 8) measured ones. Returns the load and its accuracy (measured
    requests only) against the simulator's log."""
    count = requests or max(2 * concurrency, 8)
    workload = Workload(f"calibrate-{output_tokens}", 100, output_tokens)
    warmup = concurrency if concurrency > 1 else 1
    items = plan_requests(workload, count, seed=seed, warmup=warmup)
    ramp = 0.0
    if sim is not None and concurrency > 1:
        chunks = -(-output_tokens // sim.tokens_per_chunk)
        ramp = sim.ttft_s + chunks * sim.itl_s
    mode: Mode = "sequential" if concurrency == 1 else "concurrency"
    load = Load(mode, concurrency, seed=seed, ramp_up_s=ramp)
    spec = EndpointSpec(base_url=base_url, model="sim")
    result = run_load(spec, items, load, processes=processes, transport=transport)
    measured = [rec for rec, m in zip(result.records, result.requests, strict=True) if not m.warmup]
    sim_ttft = sim.ttft_s if sim is not None else None
    accuracy = compare_with_sim(measured, fetch_log(base_url), sim_ttft_s=sim_ttft)
    return result, accuracy


def calibrate(
    levels: Sequence[int] = DEFAULT_LEVELS,
    *,
    sim: SimConfig | None = None,
    output_tokens: int = 100,
    processes: int = 1,
    ttft_tol_s: float = TTFT_TOL_S,
    speed_tol: float = SPEED_TOL,
    transport: Transport = "wire",
    on_level: Callable[[CalibrationLevel], None] | None = None,
) -> Calibration:
    """Measure the client against a fresh simulator subprocess at each concurrency level."""
    sim = sim or default_sim_config()
    calibration = Calibration(
        measured_at=dt.datetime.now(dt.UTC),
        machine=machine_info(),
        sim=sim.model_dump(mode="json"),
        processes=processes,
        transport=transport,
        ttft_tol_s=ttft_tol_s,
        speed_tol=speed_tol,
    )
    with running_sim(sim) as url:
        for level in levels:
            configure(url, sim)
            result, acc = measure_level(
                url,
                level,
                output_tokens=output_tokens,
                processes=processes,
                sim=sim,
                transport=transport,
            )
            summary = summarize(result.requests)
            tput = summary.get("throughput", {})
            # The client's own figures: how late it stamped arrivals, the speed it measured.
            client_ok = (
                acc.ttft_err_p50_s is not None
                and abs(acc.ttft_err_p50_s) <= ttft_tol_s
                and acc.speed_median_err is not None
                and abs(acc.speed_median_err) <= speed_tol
            )
            ok = (
                summary["errors"] == 0
                and client_ok
                and acc.ttft_vs_server_err_p50_s is not None
                and abs(acc.ttft_vs_server_err_p50_s) <= ttft_tol_s
            )
            entry = CalibrationLevel(
                concurrency=level,
                requests=len(result.requests),
                errors=summary["errors"],
                streams_peak=peak_streams(result.records),
                chunks_per_s=tput.get("chunks_per_s"),
                tokens_per_s=tput.get("output_tokens_per_s"),
                accuracy=acc,
                within_tolerance=ok,
            )
            calibration.levels.append(entry)
            if on_level is not None:
                on_level(entry)
            if ok:
                calibration.ceiling_concurrency = level
                calibration.ceiling_chunks_per_s = (entry.chunks_per_s or 0.0) / processes
                calibration.ceiling_tokens_per_s = entry.tokens_per_s
            else:
                # The simulator's fault only when it was late and the client's own figures
                # were still within tolerance.
                late = acc.sim_late_p50_s
                sim_bound = client_ok and late is not None and late > ttft_tol_s
                calibration.limited_by = "simulator" if sim_bound else "client"
                break
    return calibration


def load_warning(
    summary: dict[str, Any],
    concurrency: float,
    processes: int,
    calibration: Calibration | None,
    transport: Transport | None = None,
) -> str | None:
    """A warning when a run passed half of the calibrated client ceiling (per process), or
    when the calibration was measured on another ``transport`` than the run used."""
    if calibration is not None and transport is not None and calibration.transport != transport:
        if concurrency >= 64:
            return (
                f"The client calibration on this machine measured the {calibration.transport} "
                f"transport, this run used {transport}: run `modelatlas perf calibrate "
                f"--transport {transport}` to know whether the client keeps up at this load."
            )
        return None
    if calibration is None or calibration.ceiling_chunks_per_s is None:
        if concurrency >= 64:
            return (
                "No client calibration on this machine: run `modelatlas perf calibrate` to know "
                "whether the client keeps up at this load."
            )
        return None
    chunks = (summary.get("throughput") or {}).get("chunks_per_s") or 0.0
    per_process = chunks / max(processes, 1)
    limit = calibration.ceiling_chunks_per_s
    streams = concurrency / max(processes, 1)
    ceiling_streams = calibration.ceiling_concurrency or 0
    # Streams count only when calibration found a level the client could not take.
    limited = calibration.limited_by == "client" or (
        calibration.limited_by is None
        and any(not level.within_tolerance for level in calibration.levels)
    )
    if per_process > 0.5 * limit or (limited and streams > 0.5 * ceiling_streams):
        return (
            f"This run received {per_process:,.0f} chunks/s with {streams:g} streams per client "
            f"process, past half the calibrated ceiling ({limit:,.0f} chunks/s, "
            f"{ceiling_streams} streams; {calibration_path()}): timings may include client "
            "delay. Use --processes N, or check with `modelatlas perf calibrate`."
        )
    return None
