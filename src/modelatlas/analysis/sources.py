"""What the store holds about models, read in bulk: reported results and measured runs.

Two kinds of evidence, never mixed up:

- **reported**: what another site published (``reported_results``), with its source and
  snapshot date, and the index version its index figures belong to;
- **measured**: what this instance measured (``runs``/``calls`` of kind demo, perf and eval).

Measured speed and latency of an endpoint are medians over its successful calls in the
72 hours ending at its latest run (the reference site's window; ending at the latest run rather
than at "now" so that a self-hosted model measured once keeps its figures). Evaluation scores
come from the latest finished eval run of each benchmark.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from modelatlas.store.base import Store
from modelatlas.store.reported_tables import ReportedImportRow, ReportedResultRow
from modelatlas.store.run_tables import CallRow, RunRow

MEASURED_WINDOW = timedelta(hours=72)
"""Speed and latency are medians over the calls of this window (ending at the latest run)."""

MEASURED_KINDS = ("demo", "perf", "eval")

SOURCE_NAMES = {
    "artificialanalysis": "Artificial Analysis",
    "aa": "Artificial Analysis",
    "artificial-analysis": "Artificial Analysis",
}

# Evaluation keys differ between the reference API, our eval registry and index definitions;
# pages use the index definitions' keys.
EVAL_KEY_ALIASES = {
    "gpqa_diamond": "gpqa",
    "aime_25": "aime25",
    "aime_2025": "aime25",
    "aime": "aime24",
    "math_500": "math500",
    "tau_banking": "tau3_banking",
    "terminalbench_v2_1": "terminalbench_2_1",
    "terminal_bench_hard": "terminalbench_hard",
    "aa_lcr": "lcr",
}

INDEX_KEY_ALIASES = {
    "artificial_analysis_intelligence_index": "intelligence",
    "intelligence_index": "intelligence",
    "artificial_analysis_coding_index": "coding",
    "coding_index": "coding",
    "artificial_analysis_math_index": "math",
    "math_index": "math",
}


def canonical_eval_key(key: str) -> str:
    return EVAL_KEY_ALIASES.get(key, key)


def source_name(source: str) -> str:
    return SOURCE_NAMES.get(source.casefold(), source)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes for what was written as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _known(value: Any) -> float | None:
    """A positive finite number, else None (0 means unknown in the reference API)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    if number != number or number <= 0:
        return None
    return number


def _score(value: Any) -> float | None:
    """An evaluation score (0 is a real score here), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return None if number != number else number


@dataclass(frozen=True)
class ReportedModel:
    """One model as a source published it on one date (the newest snapshot per model)."""

    source: str
    snapshot_date: date
    external_slug: str
    name: str
    creator_slug: str | None
    creator_name: str | None
    release_date: str | None
    model_slug: str | None
    index_version: str | None
    evaluations: dict[str, float]
    """Canonical evaluation key -> percent (0-100)."""
    indices: dict[str, float]
    """``intelligence`` / ``coding`` / ``math`` -> published value, of ``index_version``."""
    price_input: float | None
    price_output: float | None
    price_blended: float | None
    output_speed_tps: float | None
    ttft_s: float | None
    ttfat_s: float | None

    @property
    def source_label(self) -> str:
        return f"reported by {source_name(self.source)} (snapshot {self.snapshot_date})"


def _evaluations(raw: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in raw.items():
        score = _score(value)
        if score is None or ":" in key:  # "aa:<field>": a source field we do not know
            continue
        out[canonical_eval_key(key)] = score
    return out


def _indices(raw: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in raw.items():
        score = _score(value)
        if score is None:
            continue
        out[INDEX_KEY_ALIASES.get(key, key)] = score
    return out


def load_reported(store: Store) -> list[ReportedModel]:
    """The newest reported snapshot of every model, per source."""
    with store.session() as session:
        rows = session.execute(
            select(ReportedResultRow).order_by(
                ReportedResultRow.source,
                ReportedResultRow.external_slug,
                ReportedResultRow.snapshot_date.desc(),
            )
        ).scalars()
        out: list[ReportedModel] = []
        seen: set[tuple[str, str]] = set()
        for row in rows:
            ident = (row.source, row.external_slug)
            if ident in seen:
                continue
            seen.add(ident)
            out.append(
                ReportedModel(
                    source=row.source,
                    snapshot_date=row.snapshot_date,
                    external_slug=row.external_slug,
                    name=row.name,
                    creator_slug=row.creator_slug,
                    creator_name=row.creator_name,
                    release_date=row.release_date,
                    model_slug=row.model_slug,
                    index_version=row.index_version,
                    evaluations=_evaluations(dict(row.evaluations or {})),
                    indices=_indices(dict(row.indices or {})),
                    price_input=_known(row.price_input),
                    price_output=_known(row.price_output),
                    price_blended=_known(row.price_blended_3_to_1),
                    output_speed_tps=_known(row.median_output_tps),
                    ttft_s=_known(row.median_ttft_s),
                    ttfat_s=_known(row.median_ttfat_s),
                )
            )
    return out


def reported_imports(store: Store) -> list[dict[str, Any]]:
    """Every import of a published snapshot (for the "sources" notes)."""
    with store.session() as session:
        rows = session.execute(select(ReportedImportRow).order_by(ReportedImportRow.id)).scalars()
        return [
            {
                "source": source_name(r.source),
                "snapshot_date": r.snapshot_date.isoformat(),
                "index_version": r.index_version,
                "models": r.models,
                "matched": r.matched,
            }
            for r in rows
        ]


# ----------------------------------------------------------------------------------------
# Measured
# ----------------------------------------------------------------------------------------


def median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


@dataclass
class MeasuredEndpoint:
    """Medians over one endpoint's successful calls in its latest 72-hour window."""

    endpoint_slug: str
    model_slug: str | None
    window_start: datetime
    window_end: datetime
    runs: int
    calls: int
    errors: int
    kinds: list[str]
    ttft_s: float | None
    ttfat_s: float | None
    output_speed_tps: float | None
    e2e_s: float | None
    output_tokens: float | None
    mean_reasoning_tokens: float

    @property
    def source_label(self) -> str:
        return (
            f"measured here: median of {self.calls} calls, "
            f"{self.window_start:%Y-%m-%d} to {self.window_end:%Y-%m-%d}"
        )


@dataclass
class MeasuredEvals:
    """A model's latest measured evaluation results (from eval run summaries)."""

    model_slug: str
    scores: dict[str, tuple[float, str, str, int, bool]] = field(default_factory=dict)
    """Canonical key -> (accuracy 0-100, run id, date, items, sample)."""
    indices: list[dict[str, Any]] = field(default_factory=list)
    """IndexSummary dicts of the latest run that computed each definition (+ ``run_id``, date)."""
    output_tokens: int | None = None
    cost_usd: float | None = None
    cost_segments: dict[str, float | None] = field(default_factory=dict)
    tokens_run_id: str | None = None
    tokens_date: str | None = None
    tokens_sample: bool = False


def _latest_runs(store: Store) -> dict[str, datetime]:
    with store.session() as session:
        rows = session.execute(
            select(RunRow.endpoint_slug, func.max(RunRow.started_at))
            .where(RunRow.kind.in_(MEASURED_KINDS))
            .group_by(RunRow.endpoint_slug)
        ).all()
    return {slug: as_utc(latest) for slug, latest in rows if latest is not None}


def load_measured(store: Store) -> dict[str, MeasuredEndpoint]:
    """Per endpoint: medians over its successful calls in its latest 72-hour window."""
    latest = _latest_runs(store)
    if not latest:
        return {}
    starts = {slug: when - MEASURED_WINDOW for slug, when in latest.items()}
    earliest = min(starts.values())
    per_endpoint: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    runs: dict[str, set[str]] = defaultdict(set)
    kinds: dict[str, set[str]] = defaultdict(set)
    models: dict[str, str | None] = {}
    errors: dict[str, int] = defaultdict(int)
    ends: dict[str, datetime] = {}
    with store.session() as session:
        result = session.execute(
            select(
                RunRow.endpoint_slug,
                RunRow.id,
                RunRow.kind,
                RunRow.model_slug,
                RunRow.started_at,
                CallRow.ok,
                CallRow.ttft_s,
                CallRow.ttfat_s,
                CallRow.output_speed_tps,
                CallRow.e2e_s,
                CallRow.output_tokens,
                CallRow.usage_reasoning_tokens,
                CallRow.o200k_reasoning_tokens,
                CallRow.started_at,
            )
            .join(CallRow, CallRow.run_id == RunRow.id)
            .where(RunRow.kind.in_(MEASURED_KINDS), RunRow.started_at >= earliest)
        )
        for row in result:
            slug = row[0]
            started = as_utc(row[4])
            if started < starts[slug]:
                continue
            runs[slug].add(row[1])
            kinds[slug].add(row[2])
            if row[3]:
                models[slug] = row[3]
            call_at = as_utc(row[13])
            ends[slug] = max(ends.get(slug, call_at), call_at)
            if not row[5]:
                errors[slug] += 1
                continue
            per_endpoint[slug].append(row[6:13])
    out: dict[str, MeasuredEndpoint] = {}
    for slug in set(per_endpoint) | set(errors):
        calls = per_endpoint.get(slug, [])
        reasoning = [float(r[5] if r[5] is not None else (r[6] or 0)) for r in calls]
        out[slug] = MeasuredEndpoint(
            endpoint_slug=slug,
            model_slug=models.get(slug),
            window_start=starts[slug],
            window_end=ends.get(slug, latest[slug]),
            runs=len(runs[slug]),
            calls=len(calls),
            errors=errors.get(slug, 0),
            kinds=sorted(kinds[slug]),
            ttft_s=median(r[0] for r in calls),
            ttfat_s=median(r[1] for r in calls),
            output_speed_tps=median(r[2] for r in calls),
            e2e_s=median(r[3] for r in calls),
            output_tokens=median(None if r[4] is None else float(r[4]) for r in calls),
            mean_reasoning_tokens=sum(reasoning) / len(reasoning) if reasoning else 0.0,
        )
    return out


def load_measured_evals(store: Store) -> dict[str, MeasuredEvals]:
    """Per model: the latest measured score of each benchmark and each index."""
    with store.session() as session:
        rows = session.execute(
            select(
                RunRow.id,
                RunRow.model_slug,
                RunRow.endpoint_slug,
                RunRow.finished_at,
                RunRow.started_at,
                RunRow.summary,
            )
            .where(RunRow.kind == "eval", RunRow.status == "done")
            .order_by(RunRow.started_at)
        ).all()
    out: dict[str, MeasuredEvals] = {}
    for run_id, model_slug, endpoint_slug, finished, started, summary in rows:
        if not summary:
            continue
        key = model_slug or f"endpoint:{endpoint_slug}"
        evals = out.setdefault(key, MeasuredEvals(model_slug=key))
        when = as_utc(finished or started).date().isoformat()
        sample = bool(summary.get("sample"))
        for bench in summary.get("benchmarks") or []:
            accuracy = _score(bench.get("accuracy"))
            if accuracy is None:
                continue
            evals.scores[canonical_eval_key(str(bench.get("key")))] = (
                accuracy,
                run_id,
                when,
                int(bench.get("items") or 0),
                sample,
            )
        for index in summary.get("indices") or []:
            if _score(index.get("value")) is None:
                continue
            evals.indices = [i for i in evals.indices if i["definition"] != index["definition"]]
            evals.indices.append({**index, "run_id": run_id, "date": when})
        tokens = summary.get("tokens") or {}
        if tokens.get("output"):
            cost = summary.get("cost") or {}
            evals.output_tokens = int(tokens["output"])
            evals.cost_usd = _known(cost.get("total"))
            evals.cost_segments = {
                k: cost.get(k) for k in ("input", "cached_input", "reasoning", "answer")
            }
            evals.tokens_run_id = run_id
            evals.tokens_date = when
            evals.tokens_sample = sample
    return out


@dataclass(frozen=True)
class DailyPoint:
    day: str
    calls: int
    output_speed_tps: float | None
    ttft_s: float | None
    ttfat_s: float | None


def endpoint_history(store: Store, endpoint_slugs: Sequence[str]) -> dict[str, list[DailyPoint]]:
    """Daily medians of every measured endpoint among ``endpoint_slugs`` (oldest first)."""
    if not endpoint_slugs:
        return {}
    by_day: dict[str, dict[str, list[tuple[Any, ...]]]] = defaultdict(lambda: defaultdict(list))
    with store.session() as session:
        result = session.execute(
            select(
                CallRow.endpoint_slug,
                CallRow.started_at,
                CallRow.output_speed_tps,
                CallRow.ttft_s,
                CallRow.ttfat_s,
            )
            .join(RunRow, CallRow.run_id == RunRow.id)
            .where(
                RunRow.endpoint_slug.in_(list(endpoint_slugs)),
                RunRow.kind.in_(MEASURED_KINDS),
                CallRow.ok.is_(True),
            )
        )
        for slug, started, speed, ttft, ttfat in result:
            by_day[slug][as_utc(started).date().isoformat()].append((speed, ttft, ttfat))
    return {
        slug: [
            DailyPoint(
                day=day,
                calls=len(rows),
                output_speed_tps=median(r[0] for r in rows),
                ttft_s=median(r[1] for r in rows),
                ttfat_s=median(r[2] for r in rows),
            )
            for day, rows in sorted(days.items())
        ]
        for slug, days in by_day.items()
    }


@dataclass(frozen=True)
class SampleResponse:
    """One recent measured call, as a user would want to read it (text shown escaped)."""

    endpoint_slug: str
    run_kind: str
    started_at: str
    label: str | None
    ok: bool
    ttft_s: float | None
    output_speed_tps: float | None
    output_tokens: int | None
    answer_excerpt: str
    error: str | None


def latest_responses(
    store: Store, endpoint_slugs: Sequence[str], *, limit: int = 5, chars: int = 400
) -> list[SampleResponse]:
    """The newest calls of these endpoints, with the start of each answer."""
    if not endpoint_slugs:
        return []
    with store.session() as session:
        rows = session.execute(
            select(CallRow, RunRow.kind)
            .join(RunRow, CallRow.run_id == RunRow.id)
            .where(RunRow.endpoint_slug.in_(list(endpoint_slugs)))
            .order_by(CallRow.id.desc())
            .limit(limit)
        ).all()
        out = []
        for call, kind in rows:
            text = call.answer_text or ""
            out.append(
                SampleResponse(
                    endpoint_slug=call.endpoint_slug,
                    run_kind=kind,
                    started_at=as_utc(call.started_at).strftime("%Y-%m-%d %H:%M:%S UTC"),
                    label=call.label,
                    ok=call.ok,
                    ttft_s=call.ttft_s,
                    output_speed_tps=call.output_speed_tps,
                    output_tokens=call.output_tokens,
                    answer_excerpt=text[:chars] + ("\u2026" if len(text) > chars else ""),
                    error=call.error_message,
                )
            )
    return out


def store_version(store: Store) -> tuple[Any, ...]:
    """A cheap fingerprint of what the pages depend on (changes when data is added)."""
    from modelatlas.store.catalog_tables import CatalogImportRow

    with store.session() as session:
        calls = session.execute(select(func.max(CallRow.id))).scalar()
        evals = session.execute(
            select(func.count(RunRow.id)).where(RunRow.kind == "eval", RunRow.status == "done")
        ).scalar()
        reported = session.execute(select(func.max(ReportedImportRow.id))).scalar()
        imported = session.execute(select(func.max(ReportedImportRow.imported_at))).scalar()
        catalog = session.execute(select(func.max(CatalogImportRow.id))).scalar()
    return (calls, evals, reported, imported, catalog)
