"""Full canonical-solution check of HumanEval+ and MBPP+ in the code sandbox, with throughput.

For each dataset: (1) compute the reference outputs of every problem (every base and plus
input) in the sandbox, from an empty cache; (2) check every reference solution against them,
as a model's answer would be checked. Prints the pass rate, seconds and problems per second of
each phase, and the slowest problems. Run from the repository root:

    .venv/bin/python benchmarks/coding/run.py --json /tmp/coding-bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "datasets"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--datasets", default="humaneval_plus,mbpp_plus")
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="coding-bench-home-"))
    os.environ["MODELATLAS_HOME"] = str(home)  # an empty expected-output cache
    os.environ["MODELATLAS_SANDBOX_PARALLEL"] = str(args.parallel)

    from modelatlas.evals.benchmarks import humaneval_plus, mbpp_plus
    from modelatlas.evals.sandbox import SandboxResult, detect_isolation

    modules = {"humaneval_plus": humaneval_plus, "mbpp_plus": mbpp_plus}
    info = detect_isolation()
    report: dict[str, Any] = {
        "isolation": info.level.value,
        "python": info.python,
        "parallel": args.parallel,
        "nproc": os.cpu_count(),
        "machine": platform.platform(),
        "load_before": os.getloadavg(),
        "datasets": {},
    }
    print(f"isolation {info.level.value}, sandbox python {info.python}, parallel {args.parallel}")
    try:
        for key in args.datasets.split(","):
            suite = modules[key].SUITE
            _, problems = suite.problems(args.data_dir)
            ids = list(problems)
            walls: list[tuple[float, str]] = []

            def note(_: int, result: SandboxResult, walls: list[tuple[float, str]] = walls) -> None:
                walls.append((result.wall_seconds, result.label))

            start = time.monotonic()
            suite.expected_outputs(ids, args.data_dir, on_result=note)
            expected_s = time.monotonic() - start
            slow_expected = sorted(walls, reverse=True)[:5]
            walls.clear()
            start = time.monotonic()
            verdicts = suite.check_programs(
                [(i, problems[i].reference_program) for i in ids], args.data_dir, on_result=note
            )
            check_s = time.monotonic() - start
            passed = sum(v.passed for v in verdicts)
            failed = {i: v.reason for i, v in zip(ids, verdicts, strict=True) if not v.passed}
            inputs = sum(len(p.base_input) + len(p.plus_input) for p in problems.values())
            row = {
                "problems": len(ids),
                "inputs": inputs,
                "passed": passed,
                "pass_rate": passed / len(ids),
                "failed": failed,
                "expected_seconds": round(expected_s, 1),
                "check_seconds": round(check_s, 1),
                "check_problems_per_second": round(len(ids) / check_s, 2),
                "check_cpu_seconds_in_sandbox_sum_of_walls": round(sum(w for w, _ in walls), 1),
                "slowest_expected": slow_expected,
                "slowest_check": sorted(walls, reverse=True)[:5],
            }
            report["datasets"][key] = row
            print(
                f"{key}: {passed}/{len(ids)} reference solutions pass ({inputs} inputs); "
                f"expected outputs {expected_s:.1f} s; check {check_s:.1f} s = "
                f"{len(ids) / check_s:.2f} problems/s"
            )
            if failed:
                print("  failed:", failed)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    report["load_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    ok = all(r["passed"] == r["problems"] for r in report["datasets"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
