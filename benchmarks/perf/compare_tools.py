"""Accuracy and client ceiling of modelatlas perf vs GuideLLM and evalscope perf on one simulator.

The simulator runs pinned to CPU 1, each load generator pinned to CPU 0 (``taskset``), so each
tool has one core. For every tool and concurrency level the simulator's log is the truth:

- TTFT error: median over requests of (tool TTFT - (simulator's first-token write - the tool's
  own send instant)); every tool's send instant is on a clock the simulator shares
  (modelatlas: ``perf_counter``; GuideLLM: ``time.time()``, matched by response id; evalscope:
  ``perf_counter`` per request in its ``benchmark_data.db``, matched by response id).
- speed error: median tool speed / median simulator speed - 1, with speed as the reference
  defines it, (tokens after the first chunk) / (last chunk - first chunk). GuideLLM reports no
  per-chunk token counts, so its speed is computed from its first/last token times and output
  tokens with the first chunk's known size; its own 1/ITL figure is reported beside it.
  evalscope stores per-request inter-chunk latencies and completion tokens, so its speed is
  (completion tokens - first chunk's tokens) / sum(inter-chunk latencies); its own 1/TPOT
  (TPOT = (latency - TTFT) / (tokens - 1)) is reported beside it.

- TTFT vs server: per request, tool TTFT - simulator TTFT (receipt of the request's first byte
  -> first token write), median over requests. This is the error a user of the tool sees: it
  counts the tool's stamp delays and any delay between its send stamp and the request reaching
  the server (a busy client stamps a send and writes it late; the paired error above cannot see
  that, the server can).

A level is "sustained" while the median TTFT-vs-server error is within 5 % of the simulator's
TTFT (50 ms: 2.5 ms), |speed error| <= 5 %, and no request failed.

Tools: ``modelatlas`` (perf's default wire transport), ``modelatlas-aiohttp`` (``perf run
--transport aiohttp``), ``guidellm``, ``evalscope``.

Usage (from the repository root; GuideLLM and evalscope in their own venvs, not project
dependencies)::

    python3 -m venv /tmp/guidellm-venv && /tmp/guidellm-venv/bin/pip install guidellm
    python3 -m venv /tmp/evalscope-venv && /tmp/evalscope-venv/bin/pip install 'evalscope[perf]'
    .venv/bin/python benchmarks/perf/compare_tools.py --levels 1,16,64,256,512 \\
        --guidellm /tmp/guidellm-venv/bin/guidellm --evalscope /tmp/evalscope-venv/bin/evalscope \\
        --tools modelatlas,guidellm,evalscope --out benchmarks/perf/results/compare.json
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import pickle
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from modelatlas.endpoints.sim import READY_PREFIX, SimConfig, configure, fetch_log

TOL = 0.05


def start_sim(config: SimConfig, cpu: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "modelatlas.endpoints.sim", "--port", "0"]
    cmd += ["--config-json", config.model_dump_json()]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", cpu, *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(READY_PREFIX):
            return proc, line[len(READY_PREFIX) :].strip()
    raise RuntimeError("simulator did not start")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return "unknown"


def pinned(cmd: list[str], cpu: str) -> list[str]:
    return ["taskset", "-c", cpu, *cmd] if shutil.which("taskset") else cmd


def truth(entries: list[Any]) -> dict[int, Any]:
    return {e.n: e for e in entries}


def modelatlas_level(
    url: str, streams: int, config: SimConfig, cpu: str, work: Path, transport: str = "wire"
) -> dict[str, Any]:
    out = work / f"ma-{streams}.json"
    chunks = -(-100 // config.tokens_per_chunk)
    ramp = config.ttft_s + chunks * config.itl_s
    cmd = [
        sys.executable, "-c", "from modelatlas.perf.commands import app; app()", "run",
        "--base-url", url, "--model", "sim", "--workload", "100-100",
        "--mode", "sequential" if streams == 1 else "concurrency",
        "--concurrency", str(streams), "--requests", str(max(2 * streams, 8)),
        "--warmup", str(streams), "--ramp-up", str(ramp if streams > 1 else 0),
        "--json-out", str(out), "--no-store", "--no-progress", "--transport", transport,
    ]  # fmt: skip
    t0 = time.time()
    subprocess.run(pinned(cmd, cpu), check=True, capture_output=True)
    wall = time.time() - t0
    doc = json.loads(out.read_text())
    by_id = {e.request_id: e for e in fetch_log(url)}
    ttft_err, true_ttft, speeds, true_speeds = [], [], [], []
    server: list[float] = []
    client_ttft: list[float] = []
    errors = 0
    for r in doc["requests"]:
        if r["warmup"]:
            continue
        e = by_id.get(r["request_id"])
        if r["error"] or e is None or not e.token_chunks or r["output_speed_tps"] is None:
            errors += 1
            continue
        t = e.token_chunks[0].perf - r["send_perf"]
        ttft_err.append(r["ttft_s"] - t)
        true_ttft.append(t)
        server.append(e.token_chunks[0].t_s)
        client_ttft.append(r["ttft_s"])
        speeds.append(r["output_speed_tps"])
        true_speeds.append(e.output_speed_tps)
    name = "modelatlas" if transport == "wire" else f"modelatlas-{transport}"
    return summarise(
        name, streams, ttft_err, true_ttft, speeds, true_speeds, errors, wall,
        client_ttft, server,
    )  # fmt: skip


def guidellm_level(
    exe: str, url: str, streams: int, config: SimConfig, cpu: str, work: Path
) -> dict[str, Any]:
    count = max(3 * streams, 8)
    data = work / "prompts.json"
    rows = [
        {"prompt": f"[{i}] Write about hello.", "output_tokens_count": 100} for i in range(count)
    ]
    data.write_text(json.dumps(rows))
    out = work / f"gl-{streams}.json"
    root = url.removesuffix("/v1")
    profile = "kind=synchronous" if streams == 1 else f"kind=concurrent,streams={streams}"
    cmd = [
        exe, "run", "--backend", f"kind=openai_http,target={root}", "--profile", profile,
        "--data", f"kind=json_file,path={data}",
        "--constraint", f"kind=max_requests,count={count}",
        "--output", f"kind=json,path={out}", "--disable-console",
    ]  # fmt: skip
    t0 = time.time()
    proc = subprocess.run(pinned(cmd, cpu), capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode != 0 or not out.exists():
        return {"tool": "guidellm", "streams": streams, "failed": proc.stderr[-2000:]}
    bench = json.loads(out.read_text())["benchmarks"][0]
    log = fetch_log(url)
    by_n = truth(log)
    ttft_err, true_ttft, speeds, true_speeds, itl_speeds = [], [], [], [], []
    server: list[float] = []
    client_ttft: list[float] = []
    errors = len(bench["requests"].get("errored") or [])
    measured = sorted(
        bench["requests"]["successful"], key=lambda r: r["info"]["timings"]["request_start"]
    )
    # exclude the first wave (GuideLLM has no warm-up in request counts): like modelatlas'
    for r in measured[streams:]:
        tm = r["info"]["timings"]
        n = int(str(r.get("response_id", "")).rsplit("-", 1)[-1] or 0)
        e = by_n.get(n)
        if e is None or not e.token_chunks:
            errors += 1
            continue
        first_wall = e.received_at.timestamp() + (e.token_chunks[0].perf - e.recv_perf)
        t = first_wall - tm["request_start"]
        ttft = tm["first_token_iteration"] - tm["request_start"]
        ttft_err.append(ttft - t)
        true_ttft.append(t)
        server.append(e.token_chunks[0].t_s)
        client_ttft.append(ttft)
        out_tokens = r.get("output_metrics", {}).get("text_tokens") or r.get("output_tokens") or 100
        span = tm["last_token_iteration"] - tm["first_token_iteration"]
        first_chunk = e.token_chunks[0].answer_tokens + e.token_chunks[0].reasoning_tokens
        if span > 0 and e.output_speed_tps:
            speeds.append((out_tokens - first_chunk) / span)
            itl_speeds.append((out_tokens - 1) / span)
            true_speeds.append(e.output_speed_tps)
    row = summarise(
        "guidellm", streams, ttft_err, true_ttft, speeds, true_speeds, errors, wall,
        client_ttft, server,
    )  # fmt: skip
    row["speed_1_over_itl_err"] = (
        statistics.median(itl_speeds) / statistics.median(true_speeds) - 1 if itl_speeds else None
    )
    return row


def evalscope_level(
    exe: str, url: str, streams: int, config: SimConfig, cpu: str, work: Path
) -> dict[str, Any]:
    """``evalscope perf`` in closed-loop mode with ``streams`` warm-up requests (excluded from
    its database, like modelatlas' warm-up) and ``max(2 * streams, 8)`` measured ones."""
    count = max(2 * streams, 8)
    data = work / "es-prompts.txt"
    data.write_text("".join(f"[{i}] Write about hello.\n" for i in range(count + streams)))
    outdir = work / f"es-{streams}"
    cmd = [
        exe, "perf", "--url", f"{url}/chat/completions", "--api", "openai",
        "--model", config.model, "--dataset", "line_by_line", "--dataset-path", str(data),
        "--parallel", str(streams), "--number", str(count), "--warmup-num", str(streams),
        "--max-tokens", "100", "--stream", "--read-timeout", "120", "--total-timeout", "300",
        "--outputs-dir", str(outdir), "--no-timestamp", "--name", "es",
    ]  # fmt: skip
    t0 = time.time()
    proc = subprocess.run(pinned(cmd, cpu), capture_output=True, text=True, cwd=work)
    wall = time.time() - t0
    dbs = list(outdir.glob("es/*/benchmark_data.db"))
    if proc.returncode != 0 or not dbs:
        tail = (proc.stdout + proc.stderr)[-2000:]
        return {"tool": "evalscope", "streams": streams, "failed": tail}
    with sqlite3.connect(dbs[0]) as con:
        rows = con.execute(
            "SELECT start_time, first_chunk_latency, inter_token_latencies, completion_tokens,"
            " response_messages, success, time_per_output_token FROM result"
        ).fetchall()
    by_n = truth(fetch_log(url))
    ttft_err, true_ttft, speeds, true_speeds, tpot_speeds = [], [], [], [], []
    server: list[float] = []
    client_ttft: list[float] = []
    errors = 0
    for start, ttft, itl_json, out_tokens, messages, success, tpot in rows:
        if not success:
            errors += 1
            continue
        # its own pickled record of the SSE events (written by the tool under test, read back)
        events = pickle.loads(base64.b64decode(messages))
        rid = next((ev.get("id") for ev in events if isinstance(ev, dict) and ev.get("id")), "")
        e = by_n.get(int(str(rid).rsplit("-", 1)[-1] or 0))
        if e is None or not e.token_chunks:
            errors += 1
            continue
        t = e.token_chunks[0].perf - start
        ttft_err.append(ttft - t)
        true_ttft.append(t)
        server.append(e.token_chunks[0].t_s)
        client_ttft.append(ttft)
        span = sum(json.loads(itl_json or "[]"))
        first_chunk = e.token_chunks[0].answer_tokens + e.token_chunks[0].reasoning_tokens
        if span > 0 and e.output_speed_tps:
            speeds.append(((out_tokens or 100) - first_chunk) / span)
            true_speeds.append(e.output_speed_tps)
            if tpot:
                tpot_speeds.append(1 / tpot)
    row = summarise(
        "evalscope", streams, ttft_err, true_ttft, speeds, true_speeds, errors, wall,
        client_ttft, server,
    )  # fmt: skip
    row["speed_1_over_tpot_err"] = (
        statistics.median(tpot_speeds) / statistics.median(true_speeds) - 1 if tpot_speeds else None
    )
    return row


def summarise(
    tool: str,
    streams: int,
    ttft_err: list[float],
    true_ttft: list[float],
    speeds: list[float],
    true_speeds: list[float],
    errors: int,
    wall: float,
    client_ttft: list[float] | None = None,
    server_ttft: list[float] | None = None,
) -> dict[str, Any]:
    """One level's row. ``client_ttft[i]`` and ``server_ttft[i]`` belong to the same request:
    the tool's TTFT and the simulator's (receipt of the first request byte -> first token
    write). Their difference is the error a user of the tool sees: it counts the tool's own
    stamp errors and any delay in sending the request after stamping it."""
    if not ttft_err:
        return {"tool": tool, "streams": streams, "failed": "no matched requests"}
    med_err = statistics.median(ttft_err)
    med_true = statistics.median(true_ttft)
    speed_err = statistics.median(speeds) / statistics.median(true_speeds) - 1
    row: dict[str, Any] = {
        "tool": tool,
        "streams": streams,
        "requests": len(ttft_err),
        "errors": errors,
        "ttft_err_p50_ms": med_err * 1000,
        "ttft_true_p50_ms": med_true * 1000,
        "ttft_rel_err": med_err / med_true,
        "speed_err": speed_err,
        "wall_s": wall,
    }
    ok = errors == 0 and abs(speed_err) <= TOL
    if client_ttft and server_ttft:
        diffs = [c - s for c, s in zip(client_ttft, server_ttft, strict=True)]
        server_med = statistics.median(server_ttft)
        row["ttft_server_p50_ms"] = server_med * 1000
        row["ttft_vs_server_err_ms"] = statistics.median(diffs) * 1000
        row["ttft_vs_server_err_p90_ms"] = sorted(diffs)[int(0.9 * (len(diffs) - 1))] * 1000
        row["ttft_vs_server_rel_err"] = statistics.median(diffs) / server_med
        ok = ok and abs(row["ttft_vs_server_rel_err"]) <= TOL
    else:
        ok = ok and abs(med_err / med_true) <= TOL
    row["sustained"] = ok
    return row


def markdown(doc: dict[str, Any]) -> str:
    """The README's table for a results file, plus each tool's highest sustained level."""
    lines = [
        "| tool | streams | req | err | TTFT vs server p50 (ms) | p90 (ms) | paired TTFT err (ms)"
        " | sim TTFT p50 (ms) | speed err | sustained | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    best: dict[str, int] = {}
    failed: set[str] = set()
    for r in doc["results"]:
        if "failed" in r:
            lines.append(f"| {r['tool']} | {r['streams']} | - | - | {r['failed']} |")
            continue
        lines.append(
            f"| {r['tool']} | {r['streams']} | {r['requests']} | {r['errors']} "
            f"| {r['ttft_vs_server_err_ms']:.2f} | {r['ttft_vs_server_err_p90_ms']:.1f} "
            f"| {r['ttft_err_p50_ms']:.2f} | {r['ttft_server_p50_ms']:.1f} "
            f"| {r['speed_err']:+.2%} | {'yes' if r['sustained'] else 'no'} "
            f"| {r['load_avg_1m']:.1f} |"
        )
        if r["sustained"] and r["tool"] not in failed:
            best[r["tool"]] = r["streams"]
        elif not r["sustained"]:
            failed.add(r["tool"])
    lines.append("")
    lines += [f"- {tool}: sustained up to {level} streams" for tool, level in best.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--levels", default="1,16,64,256")
    parser.add_argument("--guidellm", default="/tmp/guidellm-venv/bin/guidellm")
    parser.add_argument("--evalscope", default="/tmp/evalscope-venv/bin/evalscope")
    parser.add_argument("--itl", type=float, default=0.05)
    parser.add_argument("--tokens-per-chunk", type=int, default=4)
    parser.add_argument("--tools", default="modelatlas,guidellm")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--table", type=Path, default=None, help="Print a results file as a markdown table."
    )
    args = parser.parse_args()
    if args.table:
        print(markdown(json.loads(args.table.read_text())))
        return
    config = SimConfig(
        ttft_s=0.05, itl_s=args.itl, tokens_per_chunk=args.tokens_per_chunk, output_tokens=100
    )
    levels = [int(x) for x in args.levels.split(",")]
    tools = args.tools.split(",")
    results: list[dict[str, Any]] = []
    started_load = os.getloadavg()[0]
    proc, url = start_sim(config, "1")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for tool in tools:
                for level in levels:
                    configure(url, config)
                    if tool.startswith("modelatlas"):
                        transport = tool.partition("-")[2] or "wire"
                        row = modelatlas_level(url, level, config, "0", work, transport)
                    elif tool == "evalscope":
                        row = evalscope_level(args.evalscope, url, level, config, "0", work)
                    else:
                        row = guidellm_level(args.guidellm, url, level, config, "0", work)
                    row["load_avg_1m"] = os.getloadavg()[0]
                    results.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    doc = {
        "sim": config.model_dump(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "started_load_avg_1m": started_load,
        "results": results,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
