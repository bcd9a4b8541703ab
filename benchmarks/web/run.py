"""Latency of the web app's model page with a large store.

Generates a temporary SQLite store with N models (a user catalog file: open-weights models of
every size class and proprietary models of every price tier, reasoning or not, one priced
endpoint each), a reported snapshot for every model (index, ten evaluations, price, speed), and
D days of perf history on every endpoint (R runs a day, C calls a run), then starts
``modelatlas``'s app with uvicorn in a separate process on 127.0.0.1 and a free port and
requests model pages of randomly chosen models over one keep-alive connection.

Reported: the time to generate the store, the first request (which builds the read model), the
median / p90 / p99 / max of the model page, and of the model JSON, provider view and leaderboard.

    .venv/bin/python benchmarks/web/run.py [--models 1000] [--days 90] [--runs-per-day 4]
        [--calls-per-run 3] [--requests 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from modelatlas.store.base import open_store

SERVER = """
import sys, uvicorn
from modelatlas.store.base import open_store
from modelatlas.web.app import create_app
uvicorn.run(create_app(open_store(sys.argv[1])), host="127.0.0.1", port=int(sys.argv[2]),
            log_level="warning")
"""

EVALS = (
    "mmlu_pro",
    "gpqa",
    "hle",
    "livecodebench",
    "scicode",
    "aime_25",
    "ifbench",
    "lcr",
    "terminalbench_hard",
    "tau2",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_catalog(path: Path, n: int, rng: random.Random) -> list[dict[str, Any]]:
    """A user catalog with ``n`` models and one endpoint each; returns the models."""
    models = []
    lines = [
        '[[providers]]\nslug = "bench"\nname = "Bench Cloud"\nbase_url = "http://127.0.0.1:9/v1"\n'
    ]
    for i in range(n):
        open_weights = i % 2 == 0
        params = rng.choice([1.5e9, 3.8e9, 8e9, 27e9, 70e9, 120e9, 235e9, 671e9])
        price_in = rng.choice([0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.25, 3.0])
        model = {
            "slug": f"bench-model-{i:04d}",
            "name": f"Bench Model {i:04d}" + (" (Reasoning)" if i % 3 == 0 else ""),
            "reasoning": i % 3 == 0,
            "open_weights": open_weights,
            "params": int(params),
            "price_in": price_in,
            "price_out": price_in * 4,
        }
        models.append(model)
        lines.append(
            f'[[models]]\nslug = "{model["slug"]}"\nname = "{model["name"]}"\n'
            f'creator = "alibaba"\nreasoning = {str(model["reasoning"]).lower()}\n'
            f"open_weights = {str(open_weights).lower()}\n"
            + (f"total_params = {model['params']}\n" if open_weights else "")
            + 'input_modalities = ["text"]\noutput_modalities = ["text"]\n'
            f"context_window = {rng.choice([32768, 131072, 262144, 1048576])}\n"
        )
        lines.append(
            f'[[endpoints]]\nslug = "bench/{model["slug"]}"\nprovider = "bench"\n'
            f'model = "{model["slug"]}"\napi_model_id = "{model["slug"]}"\n'
            f"prices = {{ input = {price_in}, output = {price_in * 4} }}\n"
        )
    path.write_text("\n".join(lines), encoding="utf-8")
    return models


def fill_store(
    db: Path,
    models: list[dict[str, Any]],
    days: int,
    runs_per_day: int,
    calls: int,
    rng: random.Random,
) -> tuple[int, int]:
    """Reported rows and perf history, written with sqlite3 directly (fast bulk inserts)."""
    con = sqlite3.connect(db)
    now = datetime.now(UTC).replace(microsecond=0)
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    reported = []
    for i, m in enumerate(models):
        evals = {k: round(rng.uniform(5, 90), 2) for k in EVALS}
        reported.append(
            (
                "artificialanalysis",
                "2026-07-31",
                f"id-{i}",
                m["slug"],
                m["name"],
                "alibaba",
                "Alibaba",
                None,
                m["slug"],
                "aa-v4.1",
                json.dumps(evals),
                json.dumps({"intelligence": round(rng.uniform(1, 70), 1)}),
                m["price_in"],
                m["price_out"],
                (3 * m["price_in"] + m["price_out"]) / 4,
                rng.uniform(20, 400),
                rng.uniform(0.2, 3),
                rng.uniform(0.3, 20),
                "{}",
                now.strftime(fmt),
            )
        )
    con.executemany(
        "INSERT INTO reported_results (source, snapshot_date, external_id, external_slug, name,"
        " creator_slug, creator_name, release_date, model_slug, index_version, evaluations,"
        " indices, price_input, price_output, price_blended_3_to_1, median_output_tps,"
        " median_ttft_s, median_ttfat_s, raw, imported_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        reported,
    )
    con.execute(
        "INSERT INTO reported_imports (source, snapshot_date, path, sha256, index_version,"
        " models, matched, notes, imported_at) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            "artificialanalysis",
            "2026-07-31",
            None,
            "0" * 64,
            "aa-v4.1",
            len(models),
            len(models),
            "{}",
            now.strftime(fmt),
        ),
    )
    runs = 0
    call_id = 0
    step = timedelta(hours=24 / runs_per_day)
    for m in models:
        endpoint = f"bench/{m['slug']}"
        base_speed = rng.uniform(20, 400)
        run_rows = []
        call_rows = []
        for k in range(days * runs_per_day):
            started = now - step * k
            run_id = f"perf-{m['slug']}-{k}"
            run_rows.append(
                (
                    run_id,
                    "perf",
                    endpoint,
                    m["slug"],
                    "done",
                    started.strftime(fmt),
                    (started + timedelta(seconds=30)).strftime(fmt),
                    "bench",
                    "{}",
                    "{}",
                )
            )
            for c in range(calls):
                call_id += 1
                speed = base_speed * rng.uniform(0.8, 1.2)
                ttft = rng.uniform(0.2, 2.0)
                call_rows.append(
                    (
                        run_id,
                        f"r{call_id}",
                        f"w{c}",
                        endpoint,
                        m["slug"],
                        (started + timedelta(seconds=c)).strftime(fmt),
                        1,
                        1,
                        1,
                        ttft,
                        ttft,
                        ttft + 300 / speed,
                        300,
                        speed,
                        "ok",
                    )
                )
        con.executemany(
            "INSERT INTO runs (id, kind, endpoint_slug, model_slug, status, started_at,"
            " finished_at, client_version, config, summary) VALUES (?,?,?,?,?,?,?,?,?,?)",
            run_rows,
        )
        con.executemany(
            "INSERT INTO calls (run_id, request_id, label, endpoint_slug, api_model, started_at,"
            " stream, attempts, ok, ttft_s, ttfat_s, e2e_s, output_tokens, output_speed_tps,"
            " answer_text, request) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'{}')",
            call_rows,
        )
        runs += len(run_rows)
    con.commit()
    con.close()
    return runs, call_id


def timed_get(conn: http.client.HTTPConnection, path: str) -> float:
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200 or not body:
        raise RuntimeError(f"GET {path}: {response.status}")
    return elapsed


def stats_ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "n": len(values),
        "median_ms": statistics.median(values) * 1000,
        "p90_ms": pct(0.9),
        "p99_ms": pct(0.99),
        "max_ms": max(values) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs-per-day", type=int, default=4)
    parser.add_argument("--calls-per-run", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="modelatlas-webbench-") as tmp:
        folder = Path(tmp)
        db = folder / "bench.db"
        catalog = folder / "catalog.toml"
        t0 = time.perf_counter()
        models = write_catalog(catalog, args.models, rng)
        open_store(f"sqlite:///{db}").close()  # schema
        runs, calls = fill_store(db, models, args.days, args.runs_per_day, args.calls_per_run, rng)
        generate_s = time.perf_counter() - t0
        print(
            f"store: {args.models} models, {runs:,} runs, {calls:,} calls, "
            f"{db.stat().st_size / 1e6:,.0f} MB, generated in {generate_s:.1f} s",
            flush=True,
        )

        port = free_port()
        env = {**os.environ, "MODELATLAS_CATALOG": str(catalog), "MODELATLAS_HOME": str(folder)}
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, f"sqlite:///{db}", str(port)], env=env
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("server did not start") from None
                    time.sleep(0.1)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            first = timed_get(conn, f"/models/{models[0]['slug']}/")
            print(f"first request (builds the read model): {first:.2f} s", flush=True)
            slugs = [m["slug"] for m in models]
            for slug in rng.sample(slugs, 20):  # warm-up
                timed_get(conn, f"/models/{slug}/")
            results: dict[str, Any] = {}
            for name, path_of, count in (
                ("model_page", lambda s: f"/models/{s}/", args.requests),
                ("model_json", lambda s: f"/api/v1/models/{s}", args.requests // 3),
                ("provider_view", lambda s: f"/models/{s}/providers/", args.requests // 3),
            ):
                times = [timed_get(conn, path_of(rng.choice(slugs))) for _ in range(count)]
                results[name] = stats_ms(times)
                print(
                    f"{name}: {json.dumps({k: round(v, 1) for k, v in results[name].items()})}",
                    flush=True,
                )
            board = [timed_get(conn, "/") for _ in range(10)]
            results["leaderboard"] = stats_ms(board)
            rounded = {k: round(v, 1) for k, v in results["leaderboard"].items()}
            print(f"leaderboard: {json.dumps(rounded)}")
        finally:
            server.terminate()
            server.wait(timeout=10)

    record = {
        "command": " ".join(["benchmarks/web/run.py", *sys.argv[1:]]),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_1m": os.getloadavg()[0],
        },
        "store": {"models": args.models, "runs": runs, "calls": calls, "days": args.days},
        "generate_s": generate_s,
        "first_request_s": first,
        "results": results,
        "date": date.today().isoformat(),
    }
    if args.json:
        args.json.write_text(json.dumps(record, indent=2))
    print(json.dumps(record["machine"]))


if __name__ == "__main__":
    main()
