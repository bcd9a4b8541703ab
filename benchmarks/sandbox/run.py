"""Throughput of the code sandbox: programs per second with every core busy.

Runs N copies of a program through :class:`SandboxPool` (``max_parallel`` = CPU count) for
each isolation level, and the same program as a bare ``python3`` subprocess for reference
(no isolation at all). Two programs: ``trivial`` (``pass``: the fixed cost of starting a
sandbox and an interpreter) and ``humaneval`` (HumanEval/0 with its canonical solution and
its test, the typical unit of a coding benchmark).

    .venv/bin/python benchmarks/sandbox/run.py [--count 200] [--parallel N] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from modelatlas.errors import MissingDependencyError
from modelatlas.evals.sandbox import (
    IsolationMode,
    Program,
    RunStatus,
    SandboxLimits,
    SandboxPool,
    default_python,
)

HUMANEVAL_0 = '''
from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    """Check if in given list of numbers, are any two numbers closer to each other than
    given threshold."""
    for idx, elem in enumerate(numbers):
        for idx2, elem2 in enumerate(numbers):
            if idx != idx2:
                distance = abs(elem - elem2)
                if distance < threshold:
                    return True

    return False
'''
HUMANEVAL_0_TEST = """
METADATA = {"author": "jt", "dataset": "test"}


def check(candidate):
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False
    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True
    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.8) == False
    assert candidate([1.0, 2.0, 3.0, 4.0, 5.0, 2.0], 0.1) == True
    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 1.0) == True
    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 0.5) == False


check(has_close_elements)
"""
PROGRAMS = {
    "trivial": Program(source="pass\n"),
    "humaneval": Program(source=HUMANEVAL_0, test=HUMANEVAL_0_TEST),
}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


async def bare(program: Program, count: int, parallel: int) -> tuple[float, list[float]]:
    """The same program as a plain ``python3 main.py`` subprocess (no isolation)."""
    semaphore = asyncio.Semaphore(parallel)
    walls: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "main.py").write_text(program.script())

        async def one() -> None:
            async with semaphore:
                start = time.monotonic()
                proc = await asyncio.create_subprocess_exec(
                    default_python(),
                    "-s",
                    "-B",
                    "main.py",
                    cwd=folder,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                await proc.communicate()
                assert proc.returncode == 0
                walls.append(time.monotonic() - start)

        start = time.monotonic()
        await asyncio.gather(*(one() for _ in range(count)))
        return time.monotonic() - start, walls


def measure(count: int, parallel: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    limits = SandboxLimits(wall_seconds=60)
    modes: tuple[IsolationMode, ...] = ("bwrap", "fallback")
    for mode in modes:
        try:
            pool = SandboxPool(limits, isolation=mode, max_parallel=parallel)
        except MissingDependencyError as exc:
            print(f"skip {mode}: {exc.message}", file=sys.stderr)
            continue
        for name, program in PROGRAMS.items():
            pool.run_many_sync([program] * parallel)  # warm caches
            start = time.monotonic()
            results = pool.run_many_sync([program] * count)
            elapsed = time.monotonic() - start
            bad = [r for r in results if r.status is not RunStatus.OK]
            assert not bad, bad[0]
            rows.append(
                {
                    "isolation": pool.info.level.value,
                    "program": name,
                    "count": count,
                    "parallel": parallel,
                    "seconds": round(elapsed, 2),
                    "programs_per_second": round(count / elapsed, 1),
                    "median_wall_ms": round(
                        1000 * statistics.median(r.wall_seconds for r in results), 1
                    ),
                }
            )
            print(rows[-1], file=sys.stderr)
    for name, program in PROGRAMS.items():
        asyncio.run(bare(program, parallel, parallel))
        elapsed, walls = asyncio.run(bare(program, count, parallel))
        rows.append(
            {
                "isolation": "none (bare subprocess)",
                "program": name,
                "count": count,
                "parallel": parallel,
                "seconds": round(elapsed, 2),
                "programs_per_second": round(count / elapsed, 1),
                "median_wall_ms": round(1000 * statistics.median(walls), 1),
            }
        )
        print(rows[-1], file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="programs per measurement")
    parser.add_argument(
        "--parallel", type=int, default=os.cpu_count() or 1, help="programs at a time (nproc)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    machine = {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "python_in_sandbox": default_python(),
        "load_average_before": os.getloadavg(),
    }
    rows = measure(args.count, args.parallel)
    print(f"machine: {json.dumps(machine)}")
    print()
    print("| isolation | program | parallel | programs/s | median wall per program (ms) |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['isolation']} | {row['program']} | {row['parallel']} "
            f"| {row['programs_per_second']} | {row['median_wall_ms']} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
