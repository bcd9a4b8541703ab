"""Throughput of the code sandbox: programs per second with every core busy.

Runs N copies of a program through :class:`SandboxPool` (``max_parallel`` = CPU count) for
each isolation level, and the same program as a bare ``python3`` subprocess for reference
(no isolation at all). Two programs: ``trivial`` (``pass``: the fixed cost of starting a
sandbox and an interpreter) and ``humaneval`` (HumanEval/0 with its canonical solution and
its test, the typical unit of a coding benchmark).

Two figures per row: the throughput measured (wall clock, so it depends on whatever else the
machine runs: the load average is recorded), and the CPU time each program costs in total
(this process, bwrap, the interpreter, the kernel work charged to them), from which
``nproc / CPU per program`` estimates the throughput of otherwise idle cores. To count the
CPU of bwrap's namespace init, which bwrap leaves to be reaped by an ancestor, the script
makes itself a child subreaper.

    .venv/bin/python benchmarks/sandbox/run.py [--count 200] [--parallel N] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import platform
import resource
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
PR_SET_CHILD_SUBREAPER = 36
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


def _become_subreaper() -> bool:
    """Adopt orphaned descendants, so their CPU time is counted in RUSAGE_CHILDREN.

    bwrap's monitor exits without reaping the namespace's init, which the system's init would
    otherwise adopt (and its CPU time, with the program's, would be lost to this process).
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except OSError:
        return False


def _reap_orphans() -> None:
    """Reap adopted zombies; only called when none of asyncio's children is running."""
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 0.3:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            pid = 0
        if pid:
            quiet_since = time.monotonic()
        else:
            time.sleep(0.02)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _row(
    isolation: str, program: str, count: int, parallel: int, elapsed: float, cpu: float,
    walls: list[float],
) -> dict[str, object]:  # fmt: skip
    row: dict[str, object] = {
        "isolation": isolation,
        "program": program,
        "count": count,
        "parallel": parallel,
        "seconds": round(elapsed, 2),
        "programs_per_second": round(count / elapsed, 1),
        "median_wall_ms": round(1000 * statistics.median(walls), 1),
        "cpu_ms_per_program": round(1000 * cpu / count, 1),
        "idle_capacity_per_second": round((os.cpu_count() or 1) * count / cpu, 1),
    }
    print(row, file=sys.stderr)
    return row


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
            _reap_orphans()
            cpu = _cpu_seconds()
            start = time.monotonic()
            results = pool.run_many_sync([program] * count)
            elapsed = time.monotonic() - start
            _reap_orphans()
            cpu = _cpu_seconds() - cpu
            bad = [r for r in results if r.status is not RunStatus.OK]
            assert not bad, bad[0]
            walls = [r.wall_seconds for r in results]
            rows.append(_row(pool.info.level.value, name, count, parallel, elapsed, cpu, walls))
    for name, program in PROGRAMS.items():
        asyncio.run(bare(program, parallel, parallel))
        cpu = _cpu_seconds()
        elapsed, walls = asyncio.run(bare(program, count, parallel))
        cpu = _cpu_seconds() - cpu
        rows.append(_row("none (bare subprocess)", name, count, parallel, elapsed, cpu, walls))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="programs per measurement")
    parser.add_argument(
        "--parallel", type=int, default=os.cpu_count() or 1, help="programs at a time (nproc)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    machine: dict[str, object] = {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "python_in_sandbox": default_python(),
        "load_average_before": os.getloadavg(),
    }
    machine["subreaper"] = _become_subreaper()
    rows = measure(args.count, args.parallel)
    machine["load_average_after"] = os.getloadavg()
    print(f"machine: {json.dumps(machine)}")
    print()
    print(
        "| isolation | program | programs/s (measured) | median wall (ms) "
        "| CPU per program (ms) | programs/s on idle cores (nproc / CPU) |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['isolation']} | {row['program']} | {row['programs_per_second']} "
            f"| {row['median_wall_ms']} | {row['cpu_ms_per_program']} "
            f"| {row['idle_capacity_per_second']} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
