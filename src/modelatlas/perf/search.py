"""Searching over load: a concurrency sweep to saturation, and the highest load meeting SLOs.

Sweep: concurrency 1, 2, 4, ... up to ``max_level``; it stops after the first level where
(a) the error rate passes ``max_error_rate`` (5 %), (b) median TTFT passes ``latency_factor``
(10x) the first level's, or (c) output throughput has not risen by ``min_gain`` (5 %) over the
best so far for ``patience`` (2) levels in a row. The saturation level is the one with the
highest throughput.

SLO search: the highest concurrency (or rate) whose run meets every SLO on its statistic
(``ttft_s:p99<=2``) with at most ``max_error_rate`` errors; doubling from ``start`` until the
SLOs fail, then bisection (integers for concurrency, 10 % for rates) within ``max_probes`` runs.
Goodput is reported at every probe: requests (and output tokens) per second of requests that
meet every SLO's threshold individually.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from modelatlas.errors import UserError
from modelatlas.perf.metrics import SloSpec, slo_holds
from modelatlas.perf.runner import LoadResult

_SLO = re.compile(r"^\s*(\w+)\s*:\s*(p\d{1,2}|mean|max)\s*(<=|>=)\s*([0-9.eE+-]+)\s*$")
SLO_METRICS = (
    "ttft_s",
    "ttfat_s",
    "e2e_s",
    "e2e_500_s",
    "tpot_s",
    "tpot_incl_first_s",
    "output_speed_tps",
)


def parse_slo(text: str) -> SloSpec:
    """``METRIC:STAT<=X`` or ``METRIC:STAT>=X``, e.g. ``ttft_s:p99<=2`` or
    ``output_speed_tps:p50>=20``."""
    match = _SLO.match(text)
    if not match:
        raise UserError(
            f"Cannot read the SLO {text!r}.",
            hint="Write METRIC:STAT<=VALUE, e.g. ttft_s:p99<=2.0 or output_speed_tps:p50>=20.",
        )
    metric, stat, op, value = match.groups()
    if metric not in SLO_METRICS:
        raise UserError(
            f"Unknown SLO metric {metric!r}.", hint=f"Use one of {', '.join(SLO_METRICS)}."
        )
    try:
        threshold = float(value)
    except ValueError as exc:
        raise UserError(f"The SLO threshold in {text!r} is not a number.") from exc
    return metric, stat, op, threshold


@dataclass
class LevelRun:
    """One probed load level: its measured load and summary."""

    level: float
    result: LoadResult
    summary: dict[str, Any]

    def compact(self) -> dict[str, Any]:
        """The per-level figures kept in the run's summary."""
        keep = (
            "count",
            "errors",
            "error_rate",
            "ttft_s",
            "ttfat_s",
            "e2e_s",
            "output_speed_tps",
            "tpot_s",
            "throughput",
            "rate",
            "goodput",
            "send_lag_s",
        )
        return {"level": self.level, **{k: self.summary[k] for k in keep if k in self.summary}}


Measure = Callable[[float], LevelRun]
"""Run one load level (a concurrency or a rate) and summarise it."""


def _tput(run: LevelRun) -> float:
    return float((run.summary.get("throughput") or {}).get("output_tokens_per_s") or 0.0)


@dataclass
class SweepResult:
    levels: list[LevelRun] = field(default_factory=list)
    stop_reason: str = "max level reached"

    @property
    def saturation(self) -> LevelRun | None:
        return max(self.levels, key=_tput, default=None)


def sweep(
    measure: Measure,
    *,
    max_level: int = 256,
    start: int = 1,
    max_error_rate: float = 0.05,
    latency_factor: float = 10.0,
    min_gain: float = 0.05,
    patience: int = 2,
    on_level: Callable[[LevelRun], None] | None = None,
) -> SweepResult:
    """Concurrency sweep (doubling) until saturation; see the module docstring."""
    out = SweepResult()
    best = 0.0
    flat = 0
    base_ttft: float | None = None
    level = max(start, 1)
    while level <= max_level:
        run = measure(float(level))
        out.levels.append(run)
        if on_level is not None:
            on_level(run)
        s = run.summary
        ttft = (s.get("ttft_s") or {}).get("p50")
        if base_ttft is None:
            base_ttft = ttft
        if s.get("error_rate", 0.0) > max_error_rate:
            out.stop_reason = f"error rate {s['error_rate']:.1%} > {max_error_rate:.0%}"
            break
        if base_ttft and ttft and ttft > latency_factor * base_ttft:
            out.stop_reason = f"median TTFT {ttft:.3f} s > {latency_factor:g}x level 1's"
            break
        tput = _tput(run)
        if tput > best * (1 + min_gain):
            best, flat = tput, 0
        else:
            flat += 1
            best = max(best, tput)
            if flat >= patience:
                out.stop_reason = f"throughput stopped rising ({patience} levels < +{min_gain:.0%})"
                break
        level *= 2
    return out


@dataclass
class SloResult:
    slos: list[SloSpec]
    probes: list[LevelRun] = field(default_factory=list)
    best: LevelRun | None = None

    def holds(self, run: LevelRun, max_error_rate: float) -> bool:
        return slo_holds(run.summary, self.slos, max_error_rate)


def slo_search(
    measure: Measure,
    slos: Sequence[SloSpec],
    *,
    target: Literal["concurrency", "rate"] = "concurrency",
    start: float = 1.0,
    max_level: float = 256.0,
    max_probes: int = 8,
    max_error_rate: float = 0.05,
    on_level: Callable[[LevelRun], None] | None = None,
) -> SloResult:
    """Highest load meeting every SLO; see the module docstring."""
    if not slos:
        raise UserError("--mode slo needs at least one --slo, e.g. --slo 'ttft_s:p99<=2'.")
    out = SloResult(list(slos))

    def probe(level: float) -> bool:
        run = measure(level)
        out.probes.append(run)
        if on_level is not None:
            on_level(run)
        ok = out.holds(run, max_error_rate)
        if ok and (out.best is None or run.level > out.best.level):
            out.best = run
        return ok

    lo: float | None = None
    hi: float | None = None
    level = start
    while len(out.probes) < max_probes:
        if probe(level):
            lo = level
            if level >= max_level:
                return out
            level = min(level * 2, max_level)
        else:
            hi = level
            break
    if lo is None or hi is None:
        return out
    while len(out.probes) < max_probes:
        if target == "concurrency":
            if hi - lo <= 1:
                break
            mid = float((int(lo) + int(hi)) // 2)
        else:
            if (hi - lo) / hi <= 0.1:
                break
            mid = (lo + hi) / 2
        if probe(mid):
            lo = mid
        else:
            hi = mid
    return out
