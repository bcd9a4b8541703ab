"""One perf job end to end: plan requests, run the load mode(s), summarise, warn.

The public entry point is :func:`execute` (``modelatlas perf run`` is a thin shell over it).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from modelatlas import __version__
from modelatlas.endpoints.client import Transport
from modelatlas.endpoints.records import CallRecord, ErrorKind
from modelatlas.endpoints.resolve import ignore_eos_params
from modelatlas.errors import UserError
from modelatlas.perf.calibrate import load_calibration, load_warning, machine_info
from modelatlas.perf.metrics import DEFINITIONS, RequestMetrics, SloSpec, summarize
from modelatlas.perf.runner import LoadResult, loop_name, run_load
from modelatlas.perf.schedule import Arrival, Load
from modelatlas.perf.search import LevelRun, slo_search, sweep
from modelatlas.perf.targets import Target
from modelatlas.perf.workloads import (
    PlannedRequest,
    RequestOptions,
    Workload,
    plan_from_file,
    plan_requests,
)

JobMode = Literal["sequential", "concurrency", "rate", "sweep", "slo"]


class Progress(Protocol):
    def begin(self, description: str, total: int) -> None: ...

    def advance(self) -> None: ...


class _NoProgress:
    def begin(self, description: str, total: int) -> None:
        pass

    def advance(self) -> None:
        pass


@dataclass
class PerfJob:
    """What to measure and how (one ``perf run``)."""

    workload: Workload | None = None
    prompts_file: Path | None = None
    mode: JobMode = "sequential"
    concurrency: int = 1
    rate: float | None = None
    arrival: Arrival = "poisson"
    requests: int = 10
    """Measured requests (per level in sweeps and SLO searches)."""
    warmup: int = 1
    """Requests sent first in the same load shape and excluded from every figure."""
    seed: int = 0
    processes: int = 1
    transport: Transport = "wire"
    """The client's HTTP transport: ``wire`` (stamps in the protocol callback) or aiohttp."""
    options: RequestOptions = field(default_factory=RequestOptions)
    max_tokens: int | None = None
    """Prompt files: max_tokens for rows that set none."""
    prefix_nonce: bool = False
    slos: list[SloSpec] = field(default_factory=list)
    slo_target: Literal["concurrency", "rate"] = "concurrency"
    max_concurrency: int = 256
    max_rate: float = 64.0
    max_error_rate: float = 0.05
    ramp_up_s: float = 0.0
    timeout_s: float | None = 600.0

    @property
    def label(self) -> str:
        if self.prompts_file is not None:
            return f"file:{self.prompts_file.name}"
        return self.workload.name if self.workload is not None else "?"

    def config(self) -> dict[str, Any]:
        """The job as stored in the run's config."""
        return {
            "workload": self.label,
            "workload_description": self.workload.description if self.workload else None,
            "input_tokens": self.workload.input_tokens if self.workload else None,
            "output_tokens": self.workload.output_tokens if self.workload else self.max_tokens,
            "image": bool(self.workload and self.workload.image),
            "prompts_file": str(self.prompts_file) if self.prompts_file else None,
            "mode": self.mode,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "arrival": self.arrival,
            "requests": self.requests,
            "warmup": self.warmup,
            "seed": self.seed,
            "processes": self.processes,
            "transport": self.transport,
            "ignore_eos": self.options.ignore_eos,
            "temperature": self.options.temperature,
            "slos": [f"{m}:{s}{op}{x:g}" for m, s, op, x in self.slos],
            "slo_target": self.slo_target,
            "max_concurrency": self.max_concurrency,
            "ramp_up_s": self.ramp_up_s,
        }


@dataclass
class PerfOutcome:
    """Everything a job measured (all levels' requests, in send order)."""

    requests: list[RequestMetrics]
    records: list[CallRecord]
    planned: dict[int, PlannedRequest]
    summary: dict[str, Any]
    levels: list[LevelRun] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _plan(
    job: PerfJob, target: Target, count: int, warmup: int, start: int
) -> list[PlannedRequest]:
    options = job.options
    eos = ignore_eos_params(target.managed) if options.ignore_eos else {}
    if target.request_params or eos:
        options = RequestOptions(
            ignore_eos=options.ignore_eos,
            temperature=options.temperature,
            include_usage=options.include_usage,
            extra_body={**target.request_params, **eos, **options.extra_body},
        )
    if job.prompts_file is not None:
        return plan_from_file(
            job.prompts_file,
            count,
            seed=job.seed,
            warmup=warmup,
            start=start,
            max_tokens=job.max_tokens,
            prefix_nonce=job.prefix_nonce,
            options=options,
        )
    assert job.workload is not None
    return plan_requests(
        job.workload, count, seed=job.seed, warmup=warmup, start=start, options=options
    )


def _check_reachable(result: LoadResult) -> None:
    """Every request failed to connect: one clear error naming the URL."""
    if result.records and all(
        r.error is not None and r.error.kind is ErrorKind.CONNECT_FAILED for r in result.records
    ):
        result.records[0].raise_for_error()


def execute(
    target: Target,
    job: PerfJob,
    *,
    progress: Progress | None = None,
    on_level: Callable[[LevelRun], None] | None = None,
) -> PerfOutcome:
    """Run ``job`` against ``target``; see the module docstring."""
    progress = progress or _NoProgress()
    if job.workload is None and job.prompts_file is None:
        raise UserError("Give a workload (--workload) or a prompt file (--prompts-file).")
    if job.workload is not None and job.workload.image and target.accepts_images is False:
        raise UserError(
            f"The vision workload needs an endpoint that accepts images; the catalog says "
            f"{target.model_slug or target.slug} takes no image input."
        )
    if job.requests < 1:
        raise UserError("--requests must be at least 1.")
    started = dt.datetime.now(dt.UTC)
    next_index = 0
    all_results: list[LoadResult] = []
    planned: dict[int, PlannedRequest] = {}

    def measure(load: Load, count: int, warmup: int) -> LoadResult:
        nonlocal next_index
        items = _plan(job, target, count, warmup, next_index)
        next_index += len(items)
        planned.update((item.index, item) for item in items)
        progress.begin(f"{job.label} {load.describe()}", len(items))
        result = run_load(
            target.spec,
            items,
            load,
            processes=job.processes,
            transport=job.transport,
            timeout_s=job.timeout_s,
            on_done=progress.advance,
        )
        _check_reachable(result)
        all_results.append(result)
        return result

    def level_run(level: float) -> LevelRun:
        if job.mode == "slo" and job.slo_target == "rate":
            load = Load("rate", 0, rate=level, arrival=job.arrival, seed=job.seed)
            count = max(job.requests, math.ceil(level * 10))
        else:
            c = int(level)
            load = Load(
                "sequential" if c == 1 else "concurrency", c, seed=job.seed, ramp_up_s=job.ramp_up_s
            )
            count = max(job.requests, c)
        result = measure(load, count, job.warmup)
        summary = summarize(result.requests, slos=job.slos, requested_rate=load.rate)
        return LevelRun(level, result, summary)

    levels: list[LevelRun] = []
    extra_summary: dict[str, Any] = {}
    if job.mode == "sweep":
        swept = sweep(
            level_run,
            max_level=job.max_concurrency,
            start=max(job.concurrency, 1),
            max_error_rate=job.max_error_rate,
            on_level=on_level,
        )
        levels = swept.levels
        sat = swept.saturation
        extra_summary["sweep"] = {
            "stop_reason": swept.stop_reason,
            "saturation_level": sat.level if sat else None,
            "saturation_output_tokens_per_s": (
                (sat.summary.get("throughput") or {}).get("output_tokens_per_s") if sat else None
            ),
        }
    elif job.mode == "slo":
        found = slo_search(
            level_run,
            job.slos,
            target=job.slo_target,
            start=float(job.concurrency if job.slo_target == "concurrency" else job.rate or 1.0),
            max_level=float(
                job.max_concurrency if job.slo_target == "concurrency" else job.max_rate
            ),
            max_error_rate=job.max_error_rate,
            on_level=on_level,
        )
        levels = found.probes
        best = found.best
        extra_summary["slo"] = {
            "slos": [f"{m}:{s}{op}{x:g}" for m, s, op, x in job.slos],
            "target": job.slo_target,
            "best_level": best.level if best else None,
            "goodput": best.summary.get("goodput") if best else None,
            "probes": [p.level for p in found.probes],
        }
    else:
        load = Load(
            job.mode,
            job.concurrency if job.mode != "sequential" else 1,
            rate=job.rate,
            arrival=job.arrival,
            seed=job.seed,
            ramp_up_s=job.ramp_up_s,
        )
        measure(load, job.requests, job.warmup)

    requests = [r for res in all_results for r in res.requests]
    records = [r for res in all_results for r in res.records]
    header: dict[str, Any] = {
        "workload": job.label,
        "endpoint": target.slug,
        "model": target.model_slug,
        "api_model": target.spec.model,
        "base_url": target.spec.base_url,
        "mode": job.mode,
        "started_at": started.isoformat(),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "client_version": __version__,
        "client": {
            "loop": loop_name(),
            "transport": job.transport,
            "processes": job.processes,
            "machine": machine_info(),
        },
        "config": job.config(),
    }
    if levels:
        best_levels = [lv.compact() for lv in levels]
        header["levels"] = best_levels
        # The headline figures of a search are those of its best level.
        key = levels[-1]
        if job.mode == "sweep" and extra_summary["sweep"]["saturation_level"] is not None:
            key = next(
                lv for lv in levels if lv.level == extra_summary["sweep"]["saturation_level"]
            )
        if job.mode == "slo" and extra_summary["slo"]["best_level"] is not None:
            key = next(lv for lv in levels if lv.level == extra_summary["slo"]["best_level"])
        summary = summarize(
            key.result.requests,
            slos=job.slos,
            requested_rate=key.result.load.rate,
            extra={**header, **extra_summary, "headline_level": key.level},
        )
    else:
        summary = summarize(
            requests,
            slos=job.slos,
            requested_rate=job.rate if job.mode == "rate" else None,
            extra=header,
        )
    summary["definitions"] = DEFINITIONS
    warnings = _warnings(job, summary, levels)
    summary["warnings"] = warnings
    return PerfOutcome(requests, records, planned, summary, levels, warnings)


def _warnings(job: PerfJob, summary: dict[str, Any], levels: Sequence[LevelRun]) -> list[str]:
    warnings: list[str] = []
    calibration = load_calibration()
    checks = [(lv.summary, lv.level) for lv in levels] or [(summary, float(job.concurrency))]
    for s, level in checks:
        warning = load_warning(s, level, job.processes, calibration, job.transport)
        if warning:
            warnings.append(warning)
            break
    early = summary.get("stopped_early", 0)
    if early:
        hint = "" if job.options.ignore_eos else " (try --ignore-eos where the server supports it)"
        warnings.append(
            f"{early} request(s) stopped before their max_tokens{hint}; figures over fewer "
            "output tokens than the workload asks."
        )
    if summary.get("errors"):
        warnings.append(f"{summary['errors']} request(s) failed: {summary.get('errors_by_kind')}")
    return warnings
