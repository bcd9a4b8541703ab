"""The read model behind every page: one entry per model, with its figures and their sources.

An :class:`Atlas` is built once from the catalog and the store (reported and measured results)
and then answers page queries from memory. Which models it holds:

- the catalog's curated models (built-in and the user's file);
- every model a source reported (matched to the catalog when the importer, the slug or an alias
  matches; otherwise a model known only from the report, with the facts the report gives);
- every model with measured runs.

Each figure says where it comes from (:class:`Source`): measured here, reported elsewhere (source
and snapshot date) or the catalog, and for index figures which index version. The headline figure
of a metric prefers what was measured here (speed, latency, a complete non-sample index), then
what was reported; prices come from the catalog, else from the report.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel, ValidationError

from modelatlas.analysis.sources import (
    MeasuredEndpoint,
    MeasuredEvals,
    ReportedModel,
    canonical_eval_key,
    median,
    source_name,
)
from modelatlas.catalog import derived
from modelatlas.catalog.repository import Catalog
from modelatlas.catalog.schema import SLUG_RE, Creator, Model, Prices
from modelatlas.index.definitions import IndexDefinition, builtin_definitions
from modelatlas.store.base import Store

E2E_ANSWER_TOKENS = 500
T = TypeVar("T")

SourceKind = Literal["measured", "reported", "catalog"]


class Source(BaseModel):
    """Where a figure comes from."""

    kind: SourceKind
    label: str
    date: str | None = None
    index_version: str | None = None
    sample: bool = False


class Figure(BaseModel):
    """One number with its source."""

    value: float
    source: Source


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    unit: str
    higher_is_better: bool | None
    tiers: str  # which wording scale (see analysis.wording)


METRICS: dict[str, MetricSpec] = {
    m.key: m
    for m in (
        MetricSpec("intelligence_index", "Intelligence Index", "points", True, "higher"),
        MetricSpec("coding_index", "Coding Index", "points", True, "higher"),
        MetricSpec("math_index", "Math Index", "points", True, "higher"),
        MetricSpec("output_speed", "Output speed", "tokens/s", True, "speed"),
        MetricSpec("ttft", "Time to first token", "s", False, "latency"),
        MetricSpec("ttfat", "Time to first answer token", "s", False, "latency"),
        MetricSpec("e2e_500", "End-to-end response time (500 tokens)", "s", False, "latency"),
        MetricSpec("price_input", "Input price", "USD / 1M tokens", False, "price"),
        MetricSpec("price_output", "Output price", "USD / 1M tokens", False, "price"),
        MetricSpec("price_blended", "Blended price (3:1)", "USD / 1M tokens", False, "price"),
        MetricSpec("verbosity", "Output tokens used to run the index", "tokens", None, "verbosity"),
        MetricSpec("cost_to_run_index", "Cost to run the index", "USD", False, "price"),
        MetricSpec("context_window", "Context window", "tokens", True, "higher"),
        MetricSpec("total_params", "Total parameters", "parameters", None, "higher"),
        MetricSpec("active_params", "Active parameters", "parameters", None, "higher"),
    )
}
INDEX_METRICS = {
    "intelligence_index": "intelligence",
    "coding_index": "coding",
    "math_index": "math",
}


@dataclass(frozen=True)
class EvalInfo:
    key: str
    name: str
    index_versions: tuple[str, ...]


def eval_catalog(definitions: Iterable[IndexDefinition]) -> dict[str, EvalInfo]:
    """Every evaluation key any index definition uses, with its name and definitions."""
    names: dict[str, str] = {
        "aime24": "AIME 2024",
        "math500": "MATH-500",
        "gsm8k": "GSM8K",
        "gpqa": "GPQA Diamond",
    }
    versions: dict[str, list[str]] = {}
    for definition in definitions:
        for component in definition.components:
            names.setdefault(component.key, component.name)
            versions.setdefault(component.key, []).append(definition.name)
    return {k: EvalInfo(k, n, tuple(versions.get(k, ()))) for k, n in names.items()}


@dataclass(frozen=True)
class ClassStat:
    """A metric over a comparison class: the average over peers with a figure."""

    metric: str
    average: float | None
    peers_with_data: tuple[str, ...]
    index_version: str | None = None

    @property
    def n(self) -> int:
        return len(self.peers_with_data)


@dataclass
class Entry:
    """One model and everything known about it."""

    slug: str
    model: Model
    origin: str  # builtin | user | imported | reported
    creator_slug: str | None
    creator_name: str | None
    reported: list[ReportedModel] = field(default_factory=list)
    measured_endpoints: list[MeasuredEndpoint] = field(default_factory=list)
    measured_evals: MeasuredEvals | None = None
    price: derived.ModelPrice | None = None
    price_source: Source | None = None
    figures: dict[str, Figure] = field(default_factory=dict)
    other_figures: dict[str, list[Figure]] = field(default_factory=dict)
    evaluations: dict[str, Figure] = field(default_factory=dict)
    e2e_parts: dict[str, float] | None = None

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def in_catalog(self) -> bool:
        return self.origin != "reported"

    def value(self, metric: str) -> float | None:
        figure = self.figures.get(metric)
        return None if figure is None else figure.value

    def index_version(self, metric: str = "intelligence_index") -> str | None:
        figure = self.figures.get(metric)
        return None if figure is None else figure.source.index_version


def _reported_model(row: ReportedModel, slug: str) -> Model:
    """A model known only from a report: the facts the report gives (name, creator, date)."""
    data: dict[str, object] = {"slug": slug, "name": row.name or slug}
    if row.creator_slug and SLUG_RE.match(row.creator_slug):
        data["creator"] = row.creator_slug
    if row.release_date:
        data["release_date"] = row.release_date
    try:
        return Model.model_validate(data)
    except ValidationError:
        data.pop("release_date", None)
        return Model.model_validate(data)


def _safe_slug(value: str | None) -> str | None:
    """A creator slug usable in a URL path (the report's, cleaned), or None."""
    if not value:
        return None
    lowered = value.casefold()
    if SLUG_RE.match(lowered):
        return lowered
    cleaned = "".join(
        ch if (ch.isascii() and ch.isalnum()) or ch in "._-" else "-" for ch in lowered
    ).strip("-._")
    return cleaned or None


def _slug_for(external: str, taken: set[str]) -> str:
    slug = external.casefold() if SLUG_RE.match(external.casefold()) else None
    if slug is None:
        slug = _safe_slug(external) or "model"
    base, n = slug, 2
    while slug in taken:
        slug = f"{base}-{n}"
        n += 1
    return slug


class Atlas:
    """Every model with its figures, classes and class averages (see module doc)."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        reported: Sequence[ReportedModel] = (),
        measured: dict[str, MeasuredEndpoint] | None = None,
        measured_evals: dict[str, MeasuredEvals] | None = None,
        imports: Sequence[dict[str, object]] = (),
        built_at: datetime | None = None,
        definitions: dict[str, IndexDefinition] | None = None,
    ) -> None:
        self.catalog = catalog
        self.built_at = built_at or datetime.now(UTC)
        self.imports = list(imports)
        self.definitions = definitions if definitions is not None else builtin_definitions()
        self.evals = eval_catalog(self.definitions.values())
        self.entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}
        self._classes: dict[str, derived.ComparisonClass] = {}
        self._stats: dict[tuple[str, str], ClassStat] = {}
        self._memo: dict[tuple[Any, ...], Any] = {}
        self._build(reported, measured or {}, measured_evals or {})

    # -- building --------------------------------------------------------------------------

    def _entry_for_model(self, model: Model) -> Entry:
        entry = self.entries.get(model.slug)
        if entry is None:
            creator = self._creator(model.creator)
            entry = Entry(
                slug=model.slug,
                model=model,
                origin=self.catalog.origins.get(("model", model.slug), "builtin"),
                creator_slug=model.creator,
                creator_name=creator.name if creator else model.creator,
            )
            self.entries[model.slug] = entry
        return entry

    def _creator(self, slug: str | None) -> Creator | None:
        if not slug:
            return None
        try:
            return self.catalog.creator(slug)
        except Exception:
            return None

    def _build(
        self,
        reported: Sequence[ReportedModel],
        measured: dict[str, MeasuredEndpoint],
        measured_evals: dict[str, MeasuredEvals],
    ) -> None:
        for curated in self.catalog.comparable_models():
            if not curated.simulated:
                self._entry_for_model(curated)
        model: Model | None
        for row in reported:
            model = None
            for candidate in (row.model_slug, row.external_slug):
                if candidate:
                    model = self.catalog.find_model(candidate)
                    if model is not None:
                        break
            if model is not None:
                entry = self._entry_for_model(model)
            else:
                known = self._aliases.get(row.external_slug)
                if known is not None:
                    entry = self.entries[known]
                else:
                    slug = _slug_for(row.external_slug, set(self.entries))
                    entry = Entry(
                        slug=slug,
                        model=_reported_model(row, slug),
                        origin="reported",
                        creator_slug=_safe_slug(row.creator_slug),
                        creator_name=row.creator_name or row.creator_slug,
                    )
                    creator = self._creator(row.creator_slug)
                    if creator is not None:
                        entry.creator_name = creator.name
                    self.entries[slug] = entry
            self._aliases[row.external_slug] = entry.slug
            entry.reported.append(row)
        for endpoint_slug, figures in measured.items():
            endpoint = self.catalog.find_endpoint(endpoint_slug)
            model_slug = endpoint.model if endpoint is not None else figures.model_slug
            model = self.catalog.find_model(model_slug) if model_slug else None
            if model is None:
                continue
            self._entry_for_model(model).measured_endpoints.append(figures)
        for key, evals in measured_evals.items():
            model = self.catalog.find_model(key) if not key.startswith("endpoint:") else None
            if model is None and key.startswith("endpoint:"):
                endpoint = self.catalog.find_endpoint(key.removeprefix("endpoint:"))
                model = self.catalog.find_model(endpoint.model) if endpoint else None
            if model is None:
                continue
            self._entry_for_model(model).measured_evals = evals
        for entry in self.entries.values():
            self._figures(entry)
        for entry in self.entries.values():
            for alias in entry.model.aliases:
                self._aliases.setdefault(alias.casefold(), entry.slug)

    def _figures(self, entry: Entry) -> None:
        figures: dict[str, list[Figure]] = {}

        def add(metric: str, value: float | None, source: Source) -> None:
            if value is not None and value > 0:
                figures.setdefault(metric, []).append(Figure(value=value, source=source))

        catalog_source = Source(
            kind="catalog",
            label="catalog" if entry.in_catalog else "not in the catalog",
        )
        add("context_window", _num(entry.model.context_window), catalog_source)
        add("total_params", _num(entry.model.total_params), catalog_source)
        add("active_params", _num(entry.model.active_params), catalog_source)

        # Measured speed and latency: the first-party endpoint's, else the median of endpoints.
        if entry.measured_endpoints:
            creator = self._creator(entry.creator_slug)
            chosen = [
                m
                for m in entry.measured_endpoints
                if (ep := self.catalog.find_endpoint(m.endpoint_slug)) is not None
                and derived.is_first_party(ep, creator)
            ] or entry.measured_endpoints
            newest = max(m.window_end for m in chosen)
            calls = sum(m.calls for m in chosen)
            label = (
                f"measured here ({', '.join(m.endpoint_slug for m in chosen)}; "
                f"{calls} calls, median over the 72 h before the latest run)"
            )
            src = Source(kind="measured", label=label, date=newest.date().isoformat())
            speed = median(m.output_speed_tps for m in chosen)
            ttft = median(m.ttft_s for m in chosen)
            ttfat = median(m.ttfat_s for m in chosen)
            reasoning = statistics.fmean(m.mean_reasoning_tokens for m in chosen)
            add("output_speed", speed, src)
            add("ttft", ttft, src)
            add("ttfat", ttfat, src)
            if speed and ttft is not None:
                parts = {
                    "input": ttft,
                    "thinking": reasoning / speed,
                    "answer": E2E_ANSWER_TOKENS / speed,
                }
                entry.e2e_parts = parts
                add("e2e_500", sum(parts.values()), src)

        # Measured evaluations and indices.
        evals = entry.measured_evals
        if evals is not None:
            for key, (score, run_id, when, items, sample) in evals.scores.items():
                entry.evaluations.setdefault(
                    key,
                    Figure(
                        value=score,
                        source=Source(
                            kind="measured",
                            label=f"measured here (run {run_id}, {items} items"
                            + (", sample)" if sample else ")"),
                            date=when,
                            sample=sample,
                        ),
                    ),
                )
            for index in evals.indices:
                status = str(index.get("status"))
                sample = bool(index.get("sample"))
                label = f"measured here (run {index.get('run_id')}, {index.get('title')})"
                if status != "complete":
                    label += f", {status}"
                src = Source(
                    kind="measured",
                    label=label,
                    date=str(index.get("date")),
                    index_version=str(index.get("definition")),
                    sample=sample or status != "complete",
                )
                value = index.get("value")
                if isinstance(value, int | float):
                    figures.setdefault("intelligence_index", []).append(
                        Figure(value=float(value), source=src)
                    )
                for sub, metric in (("coding", "coding_index"), ("math", "math_index")):
                    sub_value = (index.get("sub_indices") or {}).get(sub)
                    if isinstance(sub_value, int | float):
                        figures.setdefault(metric, []).append(
                            Figure(value=float(sub_value), source=src)
                        )
            if evals.output_tokens:
                src = Source(
                    kind="measured",
                    label=f"measured here (run {evals.tokens_run_id}"
                    + (", sample)" if evals.tokens_sample else ")"),
                    date=evals.tokens_date,
                    sample=evals.tokens_sample,
                )
                add("verbosity", float(evals.output_tokens), src)
                add("cost_to_run_index", evals.cost_usd, src)

        # Reported figures (newest snapshot first).
        for row in sorted(entry.reported, key=lambda r: r.snapshot_date, reverse=True):
            src = Source(
                kind="reported",
                label=row.source_label,
                date=row.snapshot_date.isoformat(),
                index_version=row.index_version,
            )
            plain = src.model_copy(update={"index_version": None})
            for metric, key in INDEX_METRICS.items():
                value = row.indices.get(key)
                if value is not None:
                    figures.setdefault(metric, []).append(Figure(value=value, source=src))
            for key, score in row.evaluations.items():
                entry.evaluations.setdefault(key, Figure(value=score, source=plain))
            add("output_speed", row.output_speed_tps, plain)
            add("ttft", row.ttft_s, plain)
            add("ttfat", row.ttfat_s, plain)
            if row.output_speed_tps and (row.ttfat_s or row.ttft_s):
                ttft = row.ttft_s or row.ttfat_s or 0.0
                ttfat = row.ttfat_s or ttft
                parts = {
                    "input": ttft,
                    "thinking": max(0.0, ttfat - ttft),
                    "answer": E2E_ANSWER_TOKENS / row.output_speed_tps,
                }
                if entry.e2e_parts is None:
                    entry.e2e_parts = parts
                add("e2e_500", sum(parts.values()), plain)

        # Prices: the catalog's (first-party, else median of endpoints), else the report's.
        price = self.catalog.price_of(entry.slug) if entry.in_catalog else None
        if price is not None:
            entry.price = price
            entry.price_source = Source(kind="catalog", label=f"catalog: {price.basis}")
        else:
            for row in sorted(entry.reported, key=lambda r: r.snapshot_date, reverse=True):
                if row.price_input and row.price_output:
                    entry.price = derived.ModelPrice(
                        Prices(input=row.price_input, output=row.price_output),
                        row.source_label,
                        (),
                    )
                    entry.price_source = Source(
                        kind="reported", label=row.source_label, date=row.snapshot_date.isoformat()
                    )
                    break
        if entry.price is not None and entry.price_source is not None:
            prices = entry.price.prices
            add("price_input", derived.known_price(prices.input), entry.price_source)
            add("price_output", derived.known_price(prices.output), entry.price_source)
            add("price_blended", entry.price.blended, entry.price_source)

        for metric, found in figures.items():
            entry.figures[metric] = _headline(found)
            entry.other_figures[metric] = [f for f in found if f is not entry.figures[metric]]

    # -- lookups ---------------------------------------------------------------------------

    def find(self, slug: str) -> Entry | None:
        entry = self.entries.get(slug)
        if entry is not None:
            return entry
        target = self._aliases.get(slug) or self._aliases.get(slug.casefold())
        if target is not None:
            return self.entries.get(target)
        model = self.catalog.find_model(slug)
        return self.entries.get(model.slug) if model is not None else None

    def all(self) -> list[Entry]:
        return sorted(self.entries.values(), key=lambda e: e.slug)

    def creators(self) -> dict[str, str]:
        """Creator slug -> name, of every creator with a model here."""
        out: dict[str, str] = {}
        for entry in self.entries.values():
            if entry.creator_slug:
                out.setdefault(entry.creator_slug, entry.creator_name or entry.creator_slug)
        return dict(sorted(out.items(), key=lambda kv: kv[1].casefold()))

    def memo(self, key: tuple[Any, ...], factory: Callable[[], T]) -> T:
        """``factory()``, computed once per key for this atlas (pages, summaries, peers).

        The atlas never changes once built (a store change builds a new one), so anything
        derived from it can be kept for its lifetime.
        """
        try:
            return cast(T, self._memo[key])
        except KeyError:
            value = factory()
            self._memo[key] = value
            return value

    def peers(self, entry: Entry) -> list[Entry]:
        """The entries of the model's comparison class."""
        return self.memo(
            ("peers", entry.slug),
            lambda: [
                self.entries[p.slug]
                for p in self.comparison_class(entry).peers
                if p.slug in self.entries
            ],
        )

    # -- classes ---------------------------------------------------------------------------

    @cached_property
    def _comparable(self) -> list[Model]:
        return [e.model for e in self.entries.values() if not e.model.simulated]

    def comparable_models(self) -> Sequence[Model]:
        return self._comparable

    def price_of(self, model_slug: str) -> derived.ModelPrice | None:
        entry = self.entries.get(model_slug)
        return entry.price if entry is not None else None

    def comparison_class(self, entry: Entry) -> derived.ComparisonClass:
        """The peers of ``entry`` under the comparison rule (derived.comparison_class)."""
        cls = self._classes.get(entry.slug)
        if cls is None:
            cls = derived.comparison_class(entry.model, self)
            self._classes[entry.slug] = cls
        return cls

    def class_stat(self, entry: Entry, metric: str) -> ClassStat:
        """The class average of ``metric`` over the peers that have it.

        Index figures are averaged only over peers whose figure has the same index version
        as this model's (an average across versions would mean nothing).
        """
        key = (entry.slug, metric)
        stat = self._stats.get(key)
        if stat is not None:
            return stat
        version = entry.index_version(metric) if metric in INDEX_METRICS else None
        values: list[tuple[str, float]] = []
        for peer_entry in self.peers(entry):
            figure = self.figure_for(peer_entry, metric, version)
            if figure is not None:
                values.append((peer_entry.slug, figure.value))
        average = statistics.fmean(v for _, v in values) if values else None
        stat = ClassStat(metric, average, tuple(s for s, _ in values), version)
        self._stats[key] = stat
        return stat

    def figure_for(self, entry: Entry, metric: str, index_version: str | None) -> Figure | None:
        """The entry's figure of ``metric`` (of ``index_version`` when given)."""
        figure = entry.figures.get(metric)
        if index_version is None or figure is None:
            return figure
        if figure.source.index_version == index_version:
            return figure
        for other in entry.other_figures.get(metric, []):
            if other.source.index_version == index_version:
                return other
        return None

    def source_names(self) -> list[str]:
        return sorted({source_name(r.source) for e in self.entries.values() for r in e.reported})


def _num(value: int | None) -> float | None:
    return None if value is None else float(value)


def _headline(items: list[Figure]) -> Figure:
    """Measured (complete, not a sample) first, then reported and catalog, then the rest;
    the newest first within each."""

    def rank(figure: Figure) -> int:
        src = figure.source
        if src.kind == "measured" and not src.sample:
            return 0
        return 1 if src.kind in ("reported", "catalog") else 2

    newest_first = sorted(items, key=lambda f: f.source.date or "", reverse=True)
    return min(newest_first, key=rank)


def load_atlas(store: Store | None = None, catalog: Catalog | None = None) -> Atlas:
    """The atlas over ``catalog`` (default: loaded from ``store``) and the store's results."""
    from modelatlas.analysis import sources
    from modelatlas.catalog.repository import load_catalog

    if catalog is None:
        catalog = load_catalog(store)
    if store is None:
        return Atlas(catalog)
    return Atlas(
        catalog,
        reported=sources.load_reported(store),
        measured=sources.load_measured(store),
        measured_evals=sources.load_measured_evals(store),
        imports=sources.reported_imports(store),
    )


__all__ = [
    "METRICS",
    "Atlas",
    "ClassStat",
    "Entry",
    "EvalInfo",
    "Figure",
    "Source",
    "canonical_eval_key",
    "load_atlas",
]
