"""SIGKILL an eval run mid-way, then resume: no finished call is ever made again.

Real processes: the simulated endpoint in its own process logging every request to a file, and
``modelatlas eval run`` as a subprocess killed with SIGKILL (no cleanup code runs). The number
of requests the simulator received proves what was repeated.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelatlas.endpoints.sim import SimConfig, running_sim

ITEMS = 12


def sim_requests(log: Path) -> int:
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines() if line.strip())


def stored_items(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return int(conn.execute("SELECT count(*) FROM eval_items").fetchone()[0])
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def eval_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "modelatlas.evals.commands", *args]


def wait_until_stable(log: Path, quiet_s: float = 1.5, timeout_s: float = 30) -> int:
    """Request count once the simulator has logged the requests that were in flight."""
    deadline = time.monotonic() + timeout_s
    last, since = sim_requests(log), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = sim_requests(log)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return last


def test_sigkill_then_resume_repeats_no_finished_call(tmp_path: Path, shared_dir: Path) -> None:
    log = tmp_path / "sim.jsonl"
    db = tmp_path / "eval.db"
    config = SimConfig(ttft_s=0.25, itl_s=0.01, output_tokens=3)
    with running_sim(config, log_path=log) as url:
        common = [
            "--base-url", url, "--model", "sim", "--benchmarks", "gsm8k",
            "--data-dir", str(shared_dir / "datasets"), "--db", str(db),
        ]  # fmt: skip
        run = [*common, "--limit", str(ITEMS), "--concurrency", "2"]
        proc = subprocess.Popen(
            eval_cli("run", *run), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 180
            while stored_items(db) < 3 and time.monotonic() < deadline:
                assert proc.poll() is None, "the run ended before it could be killed"
                time.sleep(0.05)
            assert stored_items(db) >= 3
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        done = stored_items(db)
        assert 3 <= done < ITEMS
        before = wait_until_stable(log)
        assert before >= done

        with sqlite3.connect(db) as conn:
            [(run_id, status)] = conn.execute("SELECT id, status FROM runs").fetchall()
        assert status == "running"  # SIGKILL: nothing could mark it

        resumed = subprocess.run(
            eval_cli("run", "--resume", run_id, "--db", str(db), "--json"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert resumed.returncode == 0, resumed.stderr
        summary = json.loads(resumed.stdout)
        after = wait_until_stable(log)
        assert after - before == ITEMS - done  # only the unfinished items were called
        assert summary["run_id"] == run_id and summary["status"] == "done"
        assert summary["answers"] == ITEMS and summary["calls_made_now"] == ITEMS - done
        assert stored_items(db) == ITEMS

        # The same command as a new run: every response comes from the cache.
        again = subprocess.run(
            eval_cli("run", *run, "--json"), capture_output=True, text=True, timeout=300
        )
        assert again.returncode == 0, again.stderr
        fresh = json.loads(again.stdout)
        assert fresh["run_id"] != run_id
        assert fresh["calls_made_now"] == 0 and fresh["from_cache"] == ITEMS
        assert wait_until_stable(log, quiet_s=0.5) == after


@pytest.mark.parametrize("name", ["gsm8x"])
def test_unknown_benchmark_is_one_clear_error(name: str, tmp_path: Path) -> None:
    result = subprocess.run(
        eval_cli("run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--benchmarks",
                 name, "--db", str(tmp_path / "x.db")),
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Unknown benchmark 'gsm8x'" in result.stderr and "gsm8k" in result.stderr
    assert "Traceback" not in result.stderr
