"""Monitoring: measure configured endpoints on a schedule and keep the time series.

Each *tick* runs every chosen workload against every configured endpoint as single sequential
requests with fresh prompts (the reference's method: a new seed per tick), and stores each as a
perf run whose config has ``"monitor": true``. The time series is those runs in the store.

Figures (the reference's): per endpoint and workload, the median over a rolling window (72 hours
by default) of TTFT, TTFAT, output speed and end-to-end latency of the successful calls; the
end-to-end response time for 500 tokens is computed from those medians and the mean reasoning
tokens. A model's figure is its first-party endpoint's when one is monitored (the creator's
``first_party_providers`` in the catalog), else the median over its monitored endpoints.

Configuration: ``--endpoint`` (repeatable) and ``--workload`` (repeatable), or a TOML file::

    endpoints = ["local/smollm2-135m"]
    workloads = ["1k-1k", "100-300"]
    requests = 1
    interval_hours = 3
    window_hours = 72
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from modelatlas.catalog.schema import DEFAULT_ENDPOINT
from modelatlas.errors import UserError
from modelatlas.perf.metrics import e2e_response_time
from modelatlas.perf.report import store_run
from modelatlas.perf.session import PerfJob, execute
from modelatlas.perf.targets import open_target
from modelatlas.perf.workloads import get_workload
from modelatlas.store.base import Store
from modelatlas.store.run_tables import CallRow, RunRow

DEFAULT_INTERVAL_S = 3 * 3600.0
DEFAULT_WINDOW_S = 72 * 3600.0


@dataclass
class MonitorConfig:
    endpoints: list[str] = field(default_factory=lambda: [DEFAULT_ENDPOINT])
    workloads: list[str] = field(default_factory=lambda: ["1k-1k"])
    requests: int = 1
    interval_s: float = DEFAULT_INTERVAL_S
    window_s: float = DEFAULT_WINDOW_S

    @classmethod
    def from_file(cls, path: Path) -> MonitorConfig:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UserError(f"Cannot read the monitor file {path}: {exc.strerror}.") from exc
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{path}: not valid TOML ({exc}).") from exc
        known = {"endpoints", "workloads", "requests", "interval_hours", "window_hours"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"{path}: unknown key(s) {', '.join(unknown)}.")
        config = cls()
        if "endpoints" in data:
            config.endpoints = [str(x) for x in data["endpoints"]]
        if "workloads" in data:
            config.workloads = [str(x) for x in data["workloads"]]
        config.requests = int(data.get("requests", config.requests))
        config.interval_s = float(data.get("interval_hours", 3)) * 3600
        config.window_s = float(data.get("window_hours", 72)) * 3600
        return config


@dataclass
class TickResult:
    run_ids: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def tick(
    config: MonitorConfig,
    store: Store,
    *,
    seed: int | None = None,
    on_run: Callable[[str, str, str], None] | None = None,
) -> TickResult:
    """One round: each workload on each endpoint, stored as monitor runs. An endpoint that
    fails is recorded in ``failures`` and the others still run."""
    for name in config.workloads:
        get_workload(name)  # fail early on a bad name
    seed = int(time.time()) if seed is None else seed
    out = TickResult()
    for slug in config.endpoints:
        try:
            with open_target(slug) as target:
                for name in config.workloads:
                    job = PerfJob(
                        workload=get_workload(name),
                        mode="sequential",
                        requests=config.requests,
                        warmup=0,
                        seed=seed,
                    )
                    outcome = execute(target, job)
                    run_id = store_run(
                        store,
                        endpoint_slug=target.slug,
                        model_slug=target.model_slug,
                        config={**job.config(), "monitor": True},
                        summary=outcome.summary,
                        records=outcome.records,
                        requests=outcome.requests,
                        planned=outcome.planned,
                    )
                    out.run_ids.append(run_id)
                    if on_run is not None:
                        on_run(slug, name, run_id)
        except UserError as exc:
            out.failures.append(f"{slug}: {exc.message}")
    return out


def _median(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


def figures(
    store: Store, *, window_s: float = DEFAULT_WINDOW_S, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Rolling-window medians per (endpoint, workload) from stored monitor runs."""
    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(seconds=window_s)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    with store.session() as session:
        runs = session.scalars(
            select(RunRow).where(RunRow.kind == "perf", RunRow.started_at >= cutoff)
        ).all()
        runs = [r for r in runs if (r.config or {}).get("monitor")]
        by_id = {r.id: r for r in runs}
        if not by_id:
            return []
        calls = session.scalars(
            select(CallRow).where(CallRow.run_id.in_(list(by_id)), CallRow.ok.is_(True))
        ).all()
        for call in calls:
            run = by_id[call.run_id]
            key = (run.endpoint_slug, str((run.config or {}).get("workload")))
            row = rows.setdefault(
                key,
                {
                    "endpoint": key[0],
                    "workload": key[1],
                    "model": run.model_slug,
                    "runs": set(),
                    "ttft": [],
                    "ttfat": [],
                    "speed": [],
                    "e2e": [],
                    "reasoning": [],
                    "last": None,
                },
            )
            row["runs"].add(run.id)
            for name, value in (
                ("ttft", call.ttft_s),
                ("ttfat", call.ttfat_s),
                ("speed", call.output_speed_tps),
                ("e2e", call.e2e_s),
            ):
                if value is not None:
                    row[name].append(value)
            reasoning = call.usage_reasoning_tokens
            row["reasoning"].append(
                reasoning if reasoning is not None else call.o200k_reasoning_tokens or 0
            )
            started = call.started_at
            if started.tzinfo is None:
                started = started.replace(tzinfo=dt.UTC)
            if row["last"] is None or started > row["last"]:
                row["last"] = started
    out: list[dict[str, Any]] = []
    for row in rows.values():
        ttft, speed = _median(row["ttft"]), _median(row["speed"])
        mean_reasoning = sum(row["reasoning"]) / len(row["reasoning"]) if row["reasoning"] else 0
        out.append(
            {
                "endpoint": row["endpoint"],
                "workload": row["workload"],
                "model": row["model"],
                "runs": len(row["runs"]),
                "calls": len(row["ttft"]),
                "ttft_s": ttft,
                "ttfat_s": _median(row["ttfat"]),
                "output_speed_tps": speed,
                "e2e_s": _median(row["e2e"]),
                "e2e_500_s": e2e_response_time(ttft, speed, reasoning_tokens=mean_reasoning),
                "last_measured": row["last"].isoformat() if row["last"] else None,
                "window_hours": window_s / 3600,
            }
        )
    out.sort(key=lambda r: (r["endpoint"], r["workload"]))
    return out


def model_figures(endpoint_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (model, workload): the first-party endpoint's figures, else the median over
    endpoints (see the module docstring)."""
    first_party: dict[str, set[str]] = {}
    try:
        from modelatlas.catalog import load_catalog

        catalog = load_catalog()
        for row in endpoint_rows:
            found = catalog.find_model(row["model"]) if row["model"] else None
            if found is not None and found.creator:
                creator = catalog.creator(found.creator)
                provider_of = {e.slug: e.provider for e in catalog.endpoints_for(found.slug)}
                first_party.setdefault(row["model"], set()).update(
                    slug
                    for slug, provider in provider_of.items()
                    if provider in creator.first_party_providers
                )
    except UserError:
        pass
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in endpoint_rows:
        if row["model"]:
            groups.setdefault((row["model"], row["workload"]), []).append(row)
    out: list[dict[str, Any]] = []
    metrics = ("ttft_s", "ttfat_s", "output_speed_tps", "e2e_s", "e2e_500_s")
    for (model, workload), rows in sorted(groups.items()):
        fp = [r for r in rows if r["endpoint"] in first_party.get(model, set())]
        if fp:
            figure = {m: fp[0][m] for m in metrics} | {"source": f"first-party {fp[0]['endpoint']}"}
        else:
            figure = {m: _median([r[m] for r in rows if r[m] is not None]) for m in metrics} | {
                "source": f"median of {len(rows)} endpoint(s)"
            }
        out.append({"model": model, "workload": workload, **figure})
    return out


def run_forever(
    config: MonitorConfig,
    store: Store,
    *,
    on_tick: Callable[[TickResult], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_ticks: int | None = None,
) -> None:
    """Tick every ``config.interval_s`` (measured from each tick's start) until interrupted."""
    ticks = 0
    while max_ticks is None or ticks < max_ticks:
        started = time.monotonic()
        result = tick(config, store)
        ticks += 1
        if on_tick is not None:
            on_tick(result)
        if max_ticks is not None and ticks >= max_ticks:
            break
        sleep(max(0.0, config.interval_s - (time.monotonic() - started)))
