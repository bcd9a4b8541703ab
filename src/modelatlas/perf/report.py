"""Perf results out: the terminal table, ``--json-out`` files and the store.

Stored as one run (``RunRow``, ``kind="perf"``) whose ``summary`` JSON holds the workload,
endpoint, load, time, client version and every figure of :func:`~modelatlas.perf.metrics.summarize`
(with the definitions), plus one ``CallRow`` per request. A call row's ``request`` JSON holds
the request parameters (prompt text left out: its o200k length and label are kept) and, under
``"perf"``, what only perf knows: scheduled and actual send, send lag, warm-up, level, process,
requested and early-stopped output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from modelatlas.endpoints.records import CallRecord
from modelatlas.perf.metrics import DEFINITIONS, PERCENTILES, RequestMetrics
from modelatlas.perf.workloads import PlannedRequest
from modelatlas.store.base import Store
from modelatlas.store.calls import call_row, finish_run, start_run

TABLE_METRICS: tuple[tuple[str, str, str], ...] = (
    ("ttft_s", "TTFT", "s"),
    ("ttfat_s", "TTFAT (first answer token)", "s"),
    ("output_speed_tps", "output speed", "tok/s"),
    ("e2e_s", "end-to-end latency", "s"),
    ("e2e_500_s", "e2e response time, 500 tok", "s"),
    ("tpot_s", "TPOT excl. first token", "s"),
    ("tpot_incl_first_s", "TPOT incl. first token", "s"),
    ("itl_s", "inter-token latency", "s"),
    ("output_tokens", "output tokens", "tok"),
    ("input_tokens_o200k", "input tokens (o200k)", "tok"),
    ("send_lag_s", "send lag", "s"),
)


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "tok":
        return f"{value:,.0f}"
    if unit == "tok/s":
        return f"{value:,.1f}"
    if abs(value) < 1:
        return f"{value * 1000:,.1f} ms"
    return f"{value:,.3f}"


def summary_table(summary: Mapping[str, Any], title: str) -> Table:
    """Percentiles of each metric (rows) as a rich table."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for p in PERCENTILES:
        table.add_column(f"p{p}", justify="right")
    table.add_column("mean", justify="right")
    table.add_column("n", justify="right")
    for key, name, unit in TABLE_METRICS:
        s = summary.get(key) or {}
        if not s.get("n"):
            continue
        label = f"{name} ({unit})" if unit != "s" else name
        table.add_row(
            label,
            *(_fmt(s.get(f"p{p}"), unit) for p in PERCENTILES),
            _fmt(s.get("mean"), unit),
            str(s.get("n")),
        )
    return table


def print_summary(
    console: Console,
    summary: Mapping[str, Any],
    *,
    title: str,
    warnings: Sequence[str] = (),
    definitions: bool = True,
) -> None:
    console.print(summary_table(summary, title))
    lines = [
        f"requests {summary.get('count', 0)} measured (+{summary.get('warmup_excluded', 0)} "
        f"warm-up excluded), errors {summary.get('errors', 0)} "
        f"{summary.get('errors_by_kind') or ''}, stopped early {summary.get('stopped_early', 0)}"
    ]
    tput = summary.get("throughput") or {}
    if tput.get("output_tokens_per_s") is not None:
        lines.append(
            f"throughput {tput['output_tokens_per_s']:,.1f} output tok/s, "
            f"{tput['requests_per_s']:,.3f} req/s over a {tput['window_s']:.2f} s window"
        )
    rate = summary.get("rate") or {}
    if rate.get("requested_rps") is not None:
        achieved = rate.get("achieved_rps")
        lines.append(
            f"rate requested {rate['requested_rps']:g} req/s, achieved "
            + ("-" if achieved is None else f"{achieved:.3f} req/s")
        )
    e2e500 = summary.get("e2e_500_reference_s")
    if e2e500 is not None:
        lines.append(
            f"end-to-end response time for 500 tokens (reference formula, medians): {e2e500:.2f} s"
        )
    goodput = summary.get("goodput")
    if goodput:
        lines.append(
            f"goodput ({', '.join(goodput['slos'])}): {goodput['good_fraction']:.1%} of requests, "
            f"{goodput['requests_per_s'] or 0:.3f} req/s"
        )
    for line in lines:
        console.print(line, highlight=False)
    for warning in warnings:
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    if definitions:
        console.print("Definitions:", style="dim")
        for key in (
            "ttft_s",
            "ttfat_s",
            "output_speed_tps",
            "e2e_500_s",
            "tpot_s",
            "tpot_incl_first_s",
            "itl_s",
            "percentiles",
        ):
            console.print(f"  {DEFINITIONS[key]}", style="dim", markup=False, highlight=False)


def json_document(requests: Sequence[RequestMetrics], summary: Mapping[str, Any]) -> dict[str, Any]:
    """``{"requests": [...], "summary": {...}}`` as written by ``--json-out``."""
    return {"requests": [r.json_row() for r in requests], "summary": dict(summary)}


def write_json(path: Path, requests: Sequence[RequestMetrics], summary: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_document(requests, summary), indent=2, default=str) + "\n")
    return path


def _request_json(planned: PlannedRequest | None, m: RequestMetrics) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if planned is not None:
        params = planned.request.model_dump(exclude={"messages"}, exclude_none=True)
        params["input_tokens_o200k"] = planned.input_tokens_o200k
        params["images"] = sum(
            1
            for msg in planned.request.messages
            if isinstance(msg.get("content"), list)
            for part in msg["content"]
            if isinstance(part, dict) and part.get("type") == "image_url"
        )
    params["perf"] = {
        "send_perf": m.send_perf,
        "scheduled_perf": m.scheduled_perf,
        "send_lag_s": m.send_lag_s,
        "warmup": m.warmup,
        "level": m.level,
        "process": m.process,
        "requested_output_tokens": m.requested_output_tokens,
        "stopped_early": m.stopped_early,
        "tpot_s": m.tpot_s,
        "tpot_incl_first_s": m.tpot_incl_first_s,
        "e2e_500_s": m.e2e_500_s,
    }
    return params


def store_run(
    store: Store,
    *,
    endpoint_slug: str,
    model_slug: str | None,
    config: Mapping[str, Any],
    summary: Mapping[str, Any],
    records: Sequence[CallRecord],
    requests: Sequence[RequestMetrics],
    planned: Mapping[int, PlannedRequest] | None = None,
    status: str = "done",
) -> str:
    """One perf run and its calls; returns the run id."""
    with store.session() as session:
        run = start_run(
            session,
            kind="perf",
            endpoint_slug=endpoint_slug,
            model_slug=model_slug,
            config=dict(config),
        )
        session.flush()
        for record, m in zip(records, requests, strict=True):
            row = call_row(record, run_id=run.id, endpoint_slug=endpoint_slug, label=m.label)
            row.request = _request_json((planned or {}).get(m.index), m)
            session.add(row)
        finish_run(run, status=status, summary=dict(summary))
        return run.id
