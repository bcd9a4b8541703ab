"""Page data: what a model page, the leaderboard, a comparison, a provider view and a creator
page show, as pydantic models (served as JSON by the API and rendered by the web templates).

Charts are described as data (:class:`Chart`: bars, grouped bars, stacked bars, scatter points,
lines); turning them into Plotly figures is the web layer's job. Every chart carries a caption
naming its sources (measured here / reported elsewhere, with dates) and index version, and a
section without data carries the reason instead of a chart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from modelatlas.analysis import narrative, wording
from modelatlas.analysis.atlas import (
    INDEX_METRICS,
    METRICS,
    Atlas,
    ClassStat,
    Entry,
    Figure,
    Source,
)
from modelatlas.analysis.narrative import FaqItem
from modelatlas.analysis.sources import DailyPoint, SampleResponse
from modelatlas.catalog import derived
from modelatlas.catalog.schema import Prices

MAX_PEERS_IN_CHART = 14
MAX_PEERS_IN_SCATTER = 120

ChartKind = Literal["bar", "grouped", "stacked", "scatter", "line"]


class Bar(BaseModel):
    slug: str
    label: str
    value: float
    highlight: bool = False
    source: str = ""


class Series(BaseModel):
    name: str
    x: list[str | float]
    y: list[float | None]


class Point(BaseModel):
    slug: str
    label: str
    x: float
    y: float
    highlight: bool = False


class Chart(BaseModel):
    id: str
    title: str
    kind: ChartKind
    unit: str = ""
    x_title: str = ""
    y_title: str = ""
    log_x: bool = False
    bars: list[Bar] = Field(default_factory=list)
    series: list[Series] = Field(default_factory=list)
    points: list[Point] = Field(default_factory=list)
    average: float | None = None
    average_label: str | None = None
    caption: str = ""


class Section(BaseModel):
    key: str
    title: str
    description: str = ""
    charts: list[Chart] = Field(default_factory=list)
    empty_reason: str | None = None
    """Why the section has no chart (no data), or None."""


class FactRow(BaseModel):
    label: str
    value: str
    link: str | None = None
    note: str | None = None


class SummaryCard(BaseModel):
    key: str
    label: str
    value: str
    unit: str
    source: Source | None = None
    note: str | None = None


class EndpointRow(BaseModel):
    endpoint: str
    provider: str
    provider_name: str
    price_input: float | None
    price_output: float | None
    price_blended: float | None
    price_note: str | None
    context_limit: int | None
    output_speed_tps: float | None
    ttft_s: float | None
    ttfat_s: float | None
    e2e_500_s: float | None
    measured_calls: int
    measured_window: str | None
    source: str


class EvaluationRow(BaseModel):
    key: str
    name: str
    score: float
    source: Source
    index_versions: list[str]


class ModelSummary(BaseModel):
    """One row of the leaderboard (and the head of every model in the API)."""

    slug: str
    name: str
    creator: str | None
    creator_name: str | None
    release_date: str | None
    in_catalog: bool
    reasoning: bool | None
    open_weights: bool | None
    input_modalities: list[str]
    size_class: str | None
    price_tier: str | None
    comparison_class: str
    intelligence_index: float | None
    index_version: str | None
    index_source: str | None
    output_speed_tps: float | None
    ttfat_s: float | None
    price_input: float | None
    price_output: float | None
    price_blended: float | None
    context_window: int | None
    total_params: int | None
    sources: list[str]


class ModelPage(BaseModel):
    summary: ModelSummary
    cards: list[SummaryCard]
    facts: list[FactRow]
    superseded_notice: str | None
    narrative: list[str]
    class_description: str
    class_peers: list[str]
    evaluations: list[EvaluationRow]
    endpoints: list[EndpointRow]
    sections: list[Section]
    faq: list[FaqItem]
    sources: list[str]


class CompareRow(BaseModel):
    metric: str
    label: str
    unit: str
    values: list[str]


class ComparePage(BaseModel):
    models: list[ModelSummary]
    rows: list[CompareRow]
    charts: list[Chart]
    unknown: list[str] = Field(default_factory=list)


class ResponseRow(BaseModel):
    endpoint: str
    run_kind: str
    started_at: str
    label: str | None
    ok: bool
    ttft_s: float | None
    output_speed_tps: float | None
    output_tokens: int | None
    answer_excerpt: str
    error: str | None


class ProviderPage(BaseModel):
    model: ModelSummary
    endpoints: list[EndpointRow]
    charts: list[Chart]
    empty_reasons: list[str]
    responses: list[ResponseRow] = Field(default_factory=list)
    """The latest measured calls (what the model answered), newest first."""


class CreatorPage(BaseModel):
    slug: str
    name: str
    models: list[ModelSummary]
    charts: list[Chart]


# ----------------------------------------------------------------------------------------


def _caption(figures: Iterable[Figure | None], extra: str = "") -> str:
    """Sources of the figures in a chart, e.g. "Sources: measured here (...); reported by ..."."""
    labels: list[str] = []
    versions: list[str] = []
    for figure in figures:
        if figure is None:
            continue
        label = figure.source.label
        if figure.source.kind == "catalog":
            label = "catalog facts"
        if label not in labels:
            labels.append(label)
        version = figure.source.index_version
        if version and version not in versions:
            versions.append(version)
    text = "Sources: " + "; ".join(labels) if labels else ""
    if versions:
        text += f". Index version: {', '.join(versions)}"
    if extra:
        text += f". {extra}"
    return text


def summary(atlas: Atlas, entry: Entry) -> ModelSummary:
    """The model's head: the leaderboard row (computed once per atlas)."""
    return atlas.memo(("summary", entry.slug), lambda: _summary(atlas, entry))


def _summary(atlas: Atlas, entry: Entry) -> ModelSummary:
    model = entry.model
    cls = atlas.comparison_class(entry)
    size = derived.size_class(model.total_params)
    tier = entry.price.tier if entry.price is not None else None
    index = entry.figures.get("intelligence_index")
    sources = sorted({f.source.label for f in entry.figures.values() if f.source.kind != "catalog"})
    return ModelSummary(
        slug=entry.slug,
        name=entry.name,
        creator=entry.creator_slug,
        creator_name=entry.creator_name,
        release_date=model.release_date,
        in_catalog=entry.in_catalog,
        reasoning=model.reasoning,
        open_weights=model.open_weights,
        input_modalities=list(model.input_modalities),
        size_class=size.value if size else None,
        price_tier=tier.value if tier else None,
        comparison_class=cls.description,
        intelligence_index=index.value if index else None,
        index_version=index.source.index_version if index else None,
        index_source=index.source.label if index else None,
        output_speed_tps=entry.value("output_speed"),
        ttfat_s=entry.value("ttfat"),
        price_input=entry.value("price_input"),
        price_output=entry.value("price_output"),
        price_blended=entry.value("price_blended"),
        context_window=model.context_window,
        total_params=model.total_params,
        sources=sources,
    )


def _card(entry: Entry, key: str, label: str, fmt: str, why: str) -> SummaryCard:
    figure = entry.figures.get(key)
    if figure is None:
        return SummaryCard(key=key, label=label, value="unknown", unit="", note=why)
    unit = METRICS[key].unit
    if fmt == "price":
        value = wording.fmt_price(figure.value)
    elif fmt == "tokens":
        value = wording.fmt_tokens(figure.value)
    else:
        value = wording.fmt_number(figure.value)
    return SummaryCard(key=key, label=label, value=value, unit=unit, source=figure.source)


def _cards(entry: Entry) -> list[SummaryCard]:
    return [
        _card(entry, "intelligence_index", "Intelligence Index", "num", "no score yet"),
        _card(entry, "output_speed", "Output speed", "num", "not measured or reported"),
        _card(entry, "price_input", "Input price", "price", "unknown (0 means unknown)"),
        _card(entry, "price_output", "Output price", "price", "unknown (0 means unknown)"),
        _card(entry, "verbosity", "Verbosity", "tokens", "no index run with token counts"),
    ]


def _facts(atlas: Atlas, entry: Entry) -> list[FactRow]:
    model = entry.model
    cls = atlas.comparison_class(entry)

    def known(value: str | None) -> str:
        return value if value else "unknown"

    rows = [
        FactRow(label="Creator", value=known(entry.creator_name)),
        FactRow(label="Release date", value=known(model.release_date)),
        FactRow(
            label="Reasoning",
            value="unknown" if model.reasoning is None else ("Yes" if model.reasoning else "No"),
        ),
        FactRow(label="Input modalities", value=known(", ".join(model.input_modalities))),
        FactRow(label="Output modalities", value=known(", ".join(model.output_modalities))),
        FactRow(
            label="Context window",
            value=(
                f"{derived.context_label(model.context_window)} tokens "
                f"({derived.context_pages_text(model.context_window)} of size 12 Arial)"
                if model.context_window
                else "unknown"
            ),
        ),
        FactRow(label="Total parameters", value=known(derived.params_label(model.total_params))),
        FactRow(
            label="Active parameters",
            value=derived.params_label(model.active_params)
            or ("same as total (dense)" if model.total_params else "unknown"),
        ),
        FactRow(
            label="Open weights",
            value="unknown"
            if model.open_weights is None
            else ("Yes" if model.open_weights else "No"),
        ),
        FactRow(label="License", value=known(model.license)),
        FactRow(
            label="Weights",
            value=model.weights_url or "unknown",
            link=model.weights_url if model.weights_url else None,
        ),
        FactRow(label="Comparison class", value=cls.description),
    ]
    if not entry.in_catalog:
        rows.append(
            FactRow(
                label="Catalog",
                value="not in the catalog: facts from the reporting source only",
            )
        )
    return rows


def _peer_entries(atlas: Atlas, entry: Entry) -> list[Entry]:
    return atlas.peers(entry)


def _bar_chart(
    atlas: Atlas,
    entry: Entry,
    metric: str,
    *,
    chart_id: str,
    title: str,
    fmt_unit: str | None = None,
) -> tuple[Chart | None, str | None]:
    """This model against its class peers on one metric, with the class average."""
    figure = entry.figures.get(metric)
    spec = METRICS[metric]
    if figure is None:
        return None, f"No {spec.label.lower()} for this model: not measured here or reported."
    version = figure.source.index_version if metric in INDEX_METRICS else None
    peers: list[tuple[Entry, Figure]] = []
    for peer in _peer_entries(atlas, entry):
        peer_figure = atlas.figure_for(peer, metric, version)
        if peer_figure is not None:
            peers.append((peer, peer_figure))
    stat = atlas.class_stat(entry, metric)
    better_high = spec.higher_is_better is not False
    peers.sort(key=lambda p: p[1].value, reverse=better_high)
    shown = peers[:MAX_PEERS_IN_CHART]
    rows = [(entry, figure, True), *((p, f, False) for p, f in shown)]
    rows.sort(key=lambda r: r[1].value, reverse=better_high)
    extra = ""
    if len(peers) > len(shown):
        extra = f"Showing {len(shown)} of {len(peers)} comparable models; the average is over all"
    if not peers:
        extra = _no_peers_text(atlas, entry, version)
    chart = Chart(
        id=chart_id,
        title=title,
        kind="bar",
        unit=fmt_unit or spec.unit,
        y_title=fmt_unit or spec.unit,
        bars=[
            Bar(slug=e.slug, label=e.name, value=f.value, highlight=hl, source=f.source.label)
            for e, f, hl in rows
        ],
        average=stat.average,
        average_label=_avg_label(stat),
        caption=_caption([f for _, f, _ in rows], extra),
    )
    return chart, None


def _avg_label(stat: ClassStat) -> str | None:
    if stat.average is None:
        return None
    return f"class average ({stat.n} model{'s' if stat.n != 1 else ''})"


def _no_peers_text(atlas: Atlas, entry: Entry, version: str | None) -> str:
    reason = narrative._no_class_reason(atlas, entry)
    if reason:
        return f"No class comparison: {reason}"
    if version:
        return f"No comparable model has a figure of index version {version}"
    return "No comparable model has this figure"


def _pair_chart(
    atlas: Atlas,
    entry: Entry,
    metrics: tuple[str, str],
    names: tuple[str, str],
    *,
    chart_id: str,
    title: str,
    unit: str,
    require_both: bool = False,
) -> tuple[Chart | None, str | None]:
    """Grouped bars of two metrics (input/output price, TTFT/TTFAT, total/active params)."""
    first = entry.figures.get(metrics[0])
    if first is None:
        return None, f"No {METRICS[metrics[0]].label.lower()} for this model."
    candidates = [entry, *_peer_entries(atlas, entry)]
    rows = [e for e in candidates if e.figures.get(metrics[0]) is not None]
    if require_both:
        rows = [e for e in rows if e.figures.get(metrics[1]) is not None]
    peers = [e for e in rows if e is not entry]
    peers.sort(key=lambda e: e.value(metrics[0]) or 0.0)
    shown = [entry, *peers[:MAX_PEERS_IN_CHART]] if entry in rows else peers[:MAX_PEERS_IN_CHART]
    shown.sort(key=lambda e: e.value(metrics[0]) or 0.0)
    labels = [e.name for e in shown]
    series = [
        Series(name=names[i], x=list(labels), y=[e.value(m) for e in shown])
        for i, m in enumerate(metrics)
    ]
    figures = [e.figures.get(m) for e in shown for m in metrics]
    extra = ""
    if len(peers) > MAX_PEERS_IN_CHART:
        extra = f"Showing {MAX_PEERS_IN_CHART} of {len(peers)} comparable models"
    if not peers:
        extra = _no_peers_text(atlas, entry, None)
    chart = Chart(
        id=chart_id,
        title=title,
        kind="grouped",
        unit=unit,
        y_title=unit,
        series=series,
        bars=[Bar(slug=e.slug, label=e.name, value=0.0, highlight=e is entry) for e in shown],
        caption=_caption(figures, extra),
    )
    return chart, None


def _scatter(
    atlas: Atlas,
    entry: Entry,
    x_metric: str,
    y_metric: str,
    *,
    chart_id: str,
    title: str,
    x_title: str,
    y_title: str,
    log_x: bool,
) -> tuple[Chart | None, str | None]:
    x_fig = entry.figures.get(x_metric)
    y_fig = entry.figures.get(y_metric)
    if x_fig is None or y_fig is None:
        missing = METRICS[x_metric if x_fig is None else y_metric].label.lower()
        return None, f"No {missing} for this model, so it cannot be placed on this chart."
    version = y_fig.source.index_version if y_metric in INDEX_METRICS else None
    points = [
        Point(slug=entry.slug, label=entry.name, x=x_fig.value, y=y_fig.value, highlight=True)
    ]
    figures: list[Figure | None] = [x_fig, y_fig]
    candidates: list[tuple[float, Entry, Figure, Figure]] = []
    for peer in _peer_entries(atlas, entry):
        px = peer.figures.get(x_metric)
        py = atlas.figure_for(peer, y_metric, version)
        if px is None or py is None:
            continue
        distance = abs(math.log(px.value / x_fig.value)) if log_x else abs(px.value - x_fig.value)
        candidates.append((distance, peer, px, py))
    candidates.sort(key=lambda c: c[0])
    for _, peer, px, py in candidates[:MAX_PEERS_IN_SCATTER]:
        points.append(Point(slug=peer.slug, label=peer.name, x=px.value, y=py.value))
        figures += [px, py]
    extra = "" if len(points) > 1 else _no_peers_text(atlas, entry, version)
    if len(candidates) > MAX_PEERS_IN_SCATTER:
        extra = (
            f"Showing the {MAX_PEERS_IN_SCATTER} comparable models closest in price of "
            f"{len(candidates)}"
        )
    chart = Chart(
        id=chart_id,
        title=title,
        kind="scatter",
        x_title=x_title,
        y_title=y_title,
        log_x=log_x,
        points=points,
        caption=_caption(figures, extra),
    )
    return chart, None


def _section(
    key: str, title: str, description: str, results: Sequence[tuple[Chart | None, str | None]]
) -> Section:
    charts = [c for c, _ in results if c is not None]
    reasons = [r for _, r in results if r]
    return Section(
        key=key,
        title=title,
        description=description,
        charts=charts,
        empty_reason=None if charts else (" ".join(dict.fromkeys(reasons)) or "No data."),
    )


def endpoint_rows(atlas: Atlas, entry: Entry) -> list[EndpointRow]:
    """Every endpoint of the model: prices (catalog) and measured speed and latency."""
    if not entry.in_catalog:
        return []
    measured = {m.endpoint_slug: m for m in entry.measured_endpoints}
    rows = []
    for endpoint in atlas.catalog.endpoints_for(entry.slug):
        try:
            provider_name = atlas.catalog.provider(endpoint.provider).name
        except Exception:
            provider_name = endpoint.provider
        m = measured.get(endpoint.slug)
        blended = derived.blended_price(endpoint.prices)
        note = None
        if endpoint.self_hosted:
            note = "self-hosted (no API price)"
        elif blended is None:
            note = "unknown (0 or missing means unknown)"
        e2e = None
        if m is not None and m.output_speed_tps and m.ttft_s is not None:
            e2e = m.ttft_s + (m.mean_reasoning_tokens + 500) / m.output_speed_tps
        rows.append(
            EndpointRow(
                endpoint=endpoint.slug,
                provider=endpoint.provider,
                provider_name=provider_name,
                price_input=derived.known_price(endpoint.prices.input),
                price_output=derived.known_price(endpoint.prices.output),
                price_blended=blended,
                price_note=note,
                context_limit=endpoint.context_limit,
                output_speed_tps=m.output_speed_tps if m else None,
                ttft_s=m.ttft_s if m else None,
                ttfat_s=m.ttfat_s if m else None,
                e2e_500_s=e2e,
                measured_calls=m.calls if m else 0,
                measured_window=(
                    f"{m.window_start:%Y-%m-%d %H:%M} to {m.window_end:%Y-%m-%d %H:%M} UTC"
                    if m
                    else None
                ),
                source=m.source_label if m else "not measured here",
            )
        )
    return rows


def evaluation_rows(atlas: Atlas, entry: Entry) -> list[EvaluationRow]:
    order = {k: i for i, k in enumerate(atlas.evals)}
    rows = []
    for key, figure in sorted(entry.evaluations.items(), key=lambda kv: order.get(kv[0], 999)):
        info = atlas.evals.get(key)
        rows.append(
            EvaluationRow(
                key=key,
                name=info.name if info else key,
                score=figure.value,
                source=figure.source,
                index_versions=list(info.index_versions) if info else [],
            )
        )
    return rows


def _evaluation_charts(atlas: Atlas, entry: Entry) -> list[tuple[Chart | None, str | None]]:
    results: list[tuple[Chart | None, str | None]] = []
    peers = _peer_entries(atlas, entry)
    for row in evaluation_rows(atlas, entry):
        own = entry.evaluations[row.key]
        values = [(p, p.evaluations[row.key]) for p in peers if row.key in p.evaluations]
        values.sort(key=lambda pv: pv[1].value, reverse=True)
        total = len(values)
        values = values[:MAX_PEERS_IN_CHART]
        rows = sorted(
            [(entry, own, True), *((p, f, False) for p, f in values)],
            key=lambda r: r[1].value,
            reverse=True,
        )
        all_values = [p.evaluations[row.key].value for p in peers if row.key in p.evaluations]
        average = sum(all_values) / len(all_values) if all_values else None
        versions = ", ".join(row.index_versions) or "no index definition"
        extra = f"Component of: {versions}"
        if not total:
            extra += ". " + _no_peers_text(atlas, entry, None)
        results.append(
            (
                Chart(
                    id=f"eval-{row.key}",
                    title=row.name,
                    kind="bar",
                    unit="%",
                    y_title="score (%)",
                    bars=[
                        Bar(
                            slug=e.slug,
                            label=e.name,
                            value=f.value,
                            highlight=hl,
                            source=f.source.label,
                        )
                        for e, f, hl in rows
                    ],
                    average=average,
                    average_label=(
                        f"class average ({len(all_values)} models)" if average is not None else None
                    ),
                    caption=_caption([f for _, f, _ in rows], extra),
                ),
                None,
            )
        )
    if not results:
        results.append(
            (None, "No evaluation scores for this model: none reported or measured here.")
        )
    return results


def _provider_price_chart(rows: list[EndpointRow]) -> tuple[Chart | None, str | None]:
    priced = [r for r in rows if r.price_input is not None or r.price_output is not None]
    if not priced:
        reason = "No endpoint of this model has a known price"
        if rows and all(r.price_note and "self-hosted" in r.price_note for r in rows):
            reason = "Its only endpoints are self-hosted: no API price"
        elif not rows:
            reason = "The catalog has no endpoint (API provider) for this model"
        return None, reason + "."
    labels = [r.provider_name for r in priced]
    return (
        Chart(
            id="provider-prices",
            title="Prices by API provider",
            kind="grouped",
            unit="USD / 1M tokens",
            y_title="USD per 1M tokens",
            series=[
                Series(name="input", x=list(labels), y=[r.price_input for r in priced]),
                Series(name="output", x=list(labels), y=[r.price_output for r in priced]),
            ],
            caption="Sources: catalog prices of each endpoint (0 or missing means unknown)",
        ),
        None,
    )


def _e2e_chart(atlas: Atlas, entry: Entry) -> tuple[Chart | None, str | None]:
    if entry.e2e_parts is None:
        return None, (
            "No end-to-end time: it needs a measured or reported first-token time and output speed."
        )
    rows = [entry]
    for peer in _peer_entries(atlas, entry):
        if peer.e2e_parts is not None:
            rows.append(peer)
    rows.sort(key=lambda e: sum((e.e2e_parts or {}).values()))
    rows = rows[: MAX_PEERS_IN_CHART + 1]
    if entry not in rows:
        rows[-1] = entry
    labels = [e.name for e in rows]
    series = [
        Series(name=name, x=list(labels), y=[(e.e2e_parts or {}).get(part) for e in rows])
        for part, name in (
            ("input", "input processing (TTFT)"),
            ("thinking", "thinking"),
            ("answer", "answer (500 tokens)"),
        )
    ]
    return (
        Chart(
            id="e2e",
            title="End-to-end response time for 500 output tokens",
            kind="stacked",
            unit="s",
            y_title="seconds",
            series=series,
            bars=[Bar(slug=e.slug, label=e.name, value=0.0, highlight=e is entry) for e in rows],
            caption=_caption(
                [e.figures.get("e2e_500") for e in rows],
                "Computed, not measured: TTFT + reasoning tokens / speed + 500 / speed",
            ),
        ),
        None,
    )


def model_page(atlas: Atlas, entry: Entry) -> ModelPage:
    """Everything a model page shows (computed once per atlas)."""
    return atlas.memo(("model_page", entry.slug), lambda: _model_page(atlas, entry))


def _model_page(atlas: Atlas, entry: Entry) -> ModelPage:
    cls = atlas.comparison_class(entry)
    endpoints = endpoint_rows(atlas, entry)
    sections = [
        _section(
            "intelligence",
            "Intelligence Index",
            "The model's Intelligence Index against comparable models (same index version).",
            [
                _bar_chart(
                    atlas, entry, "intelligence_index", chart_id="index", title="Intelligence Index"
                )
            ],
        ),
        _section(
            "evaluations",
            "Evaluations",
            "Each evaluation's score (0-100) against comparable models.",
            _evaluation_charts(atlas, entry),
        ),
        _section(
            "intelligence-vs-price",
            "Intelligence vs. price",
            "Intelligence Index against the blended 3:1 price (log scale).",
            [
                _scatter(
                    atlas,
                    entry,
                    "price_blended",
                    "intelligence_index",
                    chart_id="intelligence-vs-price",
                    title="Intelligence vs. price",
                    x_title="blended price, USD per 1M tokens (log)",
                    y_title="Intelligence Index",
                    log_x=True,
                )
            ],
        ),
        _section(
            "tokens-cost",
            "Output tokens used and cost to run the Intelligence Index",
            "Verbosity (output tokens, reasoning included) and the cost of every token used.",
            [
                _bar_chart(
                    atlas, entry, "verbosity", chart_id="verbosity", title="Output tokens used"
                ),
                _bar_chart(
                    atlas,
                    entry,
                    "cost_to_run_index",
                    chart_id="cost",
                    title="Cost to run the index",
                ),
            ],
        ),
        _section(
            "context",
            "Context window",
            "Tokens the model accepts in one request.",
            [
                _bar_chart(
                    atlas, entry, "context_window", chart_id="context", title="Context window"
                )
            ],
        ),
        _section(
            "prices",
            "Input and output prices",
            "USD per 1M tokens; the model's price is its first-party API's, else the median of "
            "its endpoints.",
            [
                _pair_chart(
                    atlas,
                    entry,
                    ("price_input", "price_output"),
                    ("input", "output"),
                    chart_id="prices",
                    title="Input and output prices",
                    unit="USD / 1M tokens",
                )
            ],
        ),
        _section(
            "provider-prices",
            "Prices by API provider",
            "Every endpoint serving this model.",
            [_provider_price_chart(endpoints)],
        ),
        _section(
            "speed",
            "Output speed",
            "Tokens per second after the first chunk (median).",
            [_bar_chart(atlas, entry, "output_speed", chart_id="speed", title="Output speed")],
        ),
        _section(
            "speed-vs-price",
            "Output speed vs. price",
            "Output speed against the blended 3:1 price.",
            [
                _scatter(
                    atlas,
                    entry,
                    "price_blended",
                    "output_speed",
                    chart_id="speed-vs-price",
                    title="Output speed vs. price",
                    x_title="blended price, USD per 1M tokens (log)",
                    y_title="output tokens per second",
                    log_x=True,
                )
            ],
        ),
        _section(
            "latency",
            "Latency",
            "Time to first token (reasoning included) and to the first answer token (median).",
            [
                _pair_chart(
                    atlas,
                    entry,
                    ("ttft", "ttfat"),
                    ("time to first token", "time to first answer token"),
                    chart_id="latency",
                    title="Latency",
                    unit="s",
                )
            ],
        ),
        _section(
            "e2e",
            "End-to-end response time",
            "Seconds to receive a 500-token answer: input processing, thinking and answer.",
            [_e2e_chart(atlas, entry)],
        ),
        _section(
            "size",
            "Model size",
            "Total and active parameters (active is shown for mixture-of-experts models only).",
            [
                _pair_chart(
                    atlas,
                    entry,
                    ("total_params", "active_params"),
                    ("total", "active"),
                    chart_id="size",
                    title="Model size",
                    unit="parameters",
                )
            ],
        ),
    ]
    sources = sorted(
        {
            f.source.label
            for f in [*entry.figures.values(), *entry.evaluations.values()]
            if f.source.kind != "catalog"
        }
    )
    return ModelPage(
        summary=summary(atlas, entry),
        cards=_cards(entry),
        facts=_facts(atlas, entry),
        superseded_notice=narrative.superseded_notice(atlas, entry),
        narrative=narrative.narrative(atlas, entry),
        class_description=cls.description,
        class_peers=cls.slugs,
        evaluations=evaluation_rows(atlas, entry),
        endpoints=endpoints,
        sections=sections,
        faq=narrative.faq(atlas, entry),
        sources=sources,
    )


# ----------------------------------------------------------------------------------------
# Leaderboard, compare, providers, creators
# ----------------------------------------------------------------------------------------


def leaderboard(
    atlas: Atlas,
    *,
    size_class: str | None = None,
    price_tier: str | None = None,
    open_weights: bool | None = None,
    reasoning: bool | None = None,
    modality: str | None = None,
    creator: str | None = None,
    index_version: str | None = None,
    sort: str = "intelligence_index",
    descending: bool = True,
) -> list[ModelSummary]:
    """Every model, filtered and sorted (models without the sort figure last)."""
    rows = [summary(atlas, e) for e in atlas.all()]
    if size_class:
        rows = [r for r in rows if r.size_class == size_class]
    if price_tier:
        rows = [r for r in rows if r.price_tier == price_tier]
    if open_weights is not None:
        rows = [r for r in rows if r.open_weights is open_weights]
    if reasoning is not None:
        rows = [r for r in rows if r.reasoning is reasoning]
    if modality:
        rows = [r for r in rows if modality in r.input_modalities]
    if creator:
        rows = [r for r in rows if r.creator == creator]
    if index_version:
        rows = [r for r in rows if r.index_version == index_version]
    fields = ModelSummary.model_fields
    key = sort if sort in fields else "intelligence_index"

    def known(row: ModelSummary) -> bool:
        return getattr(row, key) is not None

    def value_of(row: ModelSummary) -> float | str:
        value = getattr(row, key)
        if isinstance(value, bool | int | float):
            return float(value)
        return str(value).casefold()

    # Known values sorted (text ascending unless asked otherwise), unknown values last.
    present = sorted((r for r in rows if known(r)), key=lambda r: r.name.casefold())
    absent = sorted((r for r in rows if not known(r)), key=lambda r: r.name.casefold())
    present.sort(key=value_of, reverse=descending)
    return present + absent


COMPARE_METRICS: tuple[tuple[str, str], ...] = (
    ("intelligence_index", "num"),
    ("coding_index", "num"),
    ("math_index", "num"),
    ("output_speed", "num"),
    ("ttft", "num"),
    ("ttfat", "num"),
    ("e2e_500", "num"),
    ("price_input", "price"),
    ("price_output", "price"),
    ("price_blended", "price"),
    ("verbosity", "tokens"),
    ("context_window", "context"),
    ("total_params", "tokens"),
    ("active_params", "tokens"),
)


def _fmt_figure(figure: Figure | None, fmt: str) -> str:
    if figure is None:
        return "unknown"
    if fmt == "price":
        text = wording.fmt_price(figure.value)
    elif fmt == "context":
        text = derived.context_label(int(figure.value)) or wording.fmt_tokens(figure.value)
    elif fmt == "tokens":
        text = wording.fmt_tokens(figure.value)
    else:
        text = wording.fmt_number(figure.value, 2)
    version = figure.source.index_version
    tag: str = figure.source.kind if figure.source.kind != "catalog" else ""
    if version:
        tag = f"{tag}, {version}"
    return f"{text} ({tag})" if tag else text


def compare(atlas: Atlas, slugs: Sequence[str]) -> ComparePage:
    entries: list[Entry] = []
    unknown: list[str] = []
    for slug in slugs:
        entry = atlas.find(slug)
        if entry is None:
            unknown.append(slug)
        elif entry not in entries:
            entries.append(entry)
    rows = [
        CompareRow(
            metric=m,
            label=METRICS[m].label,
            unit=METRICS[m].unit,
            values=[_fmt_figure(e.figures.get(m), fmt) for e in entries],
        )
        for m, fmt in COMPARE_METRICS
    ]
    eval_keys = [k for k in atlas.evals if any(k in e.evaluations for e in entries)]
    for key in eval_keys:
        rows.append(
            CompareRow(
                metric=f"eval:{key}",
                label=atlas.evals[key].name,
                unit="%",
                values=[_fmt_figure(e.evaluations.get(key), "num") for e in entries],
            )
        )
    charts: list[Chart] = []
    for metric, title in (
        ("intelligence_index", "Intelligence Index"),
        ("output_speed", "Output speed"),
        ("ttfat", "Time to first answer token"),
        ("price_blended", "Blended price (3:1)"),
        ("context_window", "Context window"),
    ):
        have = [(e, e.figures[metric]) for e in entries if metric in e.figures]
        if not have:
            continue
        charts.append(
            Chart(
                id=f"compare-{metric}",
                title=title,
                kind="bar",
                unit=METRICS[metric].unit,
                y_title=METRICS[metric].unit,
                bars=[
                    Bar(slug=e.slug, label=e.name, value=f.value, source=f.source.label)
                    for e, f in have
                ],
                caption=_caption([f for _, f in have])
                + (
                    ". Different index versions are not comparable"
                    if metric in INDEX_METRICS
                    and len({f.source.index_version for _, f in have}) > 1
                    else ""
                ),
            )
        )
    return ComparePage(
        models=[summary(atlas, e) for e in entries], rows=rows, charts=charts, unknown=unknown
    )


def provider_page(
    atlas: Atlas,
    entry: Entry,
    history: dict[str, list[DailyPoint]] | None = None,
    responses: Sequence[SampleResponse] = (),
    price_history: dict[str, list[dict[str, object]]] | None = None,
) -> ProviderPage:
    rows = endpoint_rows(atlas, entry)
    charts: list[Chart] = []
    reasons: list[str] = []
    price_chart, reason = _provider_price_chart(rows)
    if price_chart is not None:
        charts.append(price_chart)
    elif reason:
        reasons.append(reason)
    measured = [r for r in rows if r.output_speed_tps is not None]
    if measured:
        charts.append(
            Chart(
                id="provider-speed",
                title="Output speed by endpoint",
                kind="bar",
                unit="tokens/s",
                y_title="tokens/s",
                bars=[
                    Bar(slug=r.endpoint, label=r.provider_name, value=r.output_speed_tps or 0.0)
                    for r in measured
                ],
                caption="Sources: " + "; ".join(r.source for r in measured),
            )
        )
        charts.append(
            Chart(
                id="provider-latency",
                title="Latency by endpoint",
                kind="grouped",
                unit="s",
                y_title="seconds",
                series=[
                    Series(
                        name="TTFT",
                        x=[r.provider_name for r in measured],
                        y=[r.ttft_s for r in measured],
                    ),
                    Series(
                        name="TTFAT",
                        x=[r.provider_name for r in measured],
                        y=[r.ttfat_s for r in measured],
                    ),
                ],
                caption="Sources: " + "; ".join(r.source for r in measured),
            )
        )
    else:
        reasons.append(
            "No endpoint of this model was measured here (run `modelatlas perf` against one)."
        )
    history = history or {}
    if any(history.values()):
        names = {r.endpoint: r.provider_name for r in rows}
        for metric, title, unit in (
            ("output_speed_tps", "Output speed over time (daily median)", "tokens/s"),
            ("ttft_s", "Time to first token over time (daily median)", "s"),
        ):
            charts.append(
                Chart(
                    id=f"history-{metric}",
                    title=title,
                    kind="line",
                    unit=unit,
                    y_title=unit,
                    series=[
                        Series(
                            name=names.get(slug, slug),
                            x=[p.day for p in points],
                            y=[getattr(p, metric) for p in points],
                        )
                        for slug, points in history.items()
                        if points
                    ],
                    caption="Sources: measured here, daily medians of successful calls",
                )
            )
    names = {r.endpoint: r.provider_name for r in rows}
    priced = {slug: points for slug, points in (price_history or {}).items() if points}
    if priced:
        series = []
        for slug, points in priced.items():
            days: list[str | float] = []
            blended: list[float | None] = []
            for point in points:
                price_in, price_out = point.get("input"), point.get("output")
                if isinstance(price_in, int | float) and isinstance(price_out, int | float):
                    value = derived.blended_price(Prices(input=price_in, output=price_out))
                else:
                    value = None
                days.append(str(point.get("effective_from")))
                blended.append(value)
            series.append(Series(name=names.get(slug, slug), x=days, y=blended))
        charts.append(
            Chart(
                id="history-price",
                title="Blended price (3:1) over time",
                kind="line",
                unit="USD / 1M tokens",
                y_title="USD per 1M tokens",
                series=series,
                caption="Sources: catalog price history (each price from the date it took "
                "effect; 0 or missing means unknown)",
            )
        )
    return ProviderPage(
        model=summary(atlas, entry),
        endpoints=rows,
        charts=charts,
        empty_reasons=reasons,
        responses=[
            ResponseRow(
                endpoint=r.endpoint_slug,
                run_kind=r.run_kind,
                started_at=r.started_at,
                label=r.label,
                ok=r.ok,
                ttft_s=r.ttft_s,
                output_speed_tps=r.output_speed_tps,
                output_tokens=r.output_tokens,
                answer_excerpt=r.answer_excerpt,
                error=r.error,
            )
            for r in responses
        ],
    )


def creator_page(atlas: Atlas, creator_slug: str) -> CreatorPage | None:
    entries = [e for e in atlas.all() if e.creator_slug == creator_slug]
    if not entries:
        return None
    name = entries[0].creator_name or creator_slug
    models = [summary(atlas, e) for e in entries]
    models.sort(key=lambda m: (m.intelligence_index is None, -(m.intelligence_index or 0.0)))
    with_index = [
        (e, e.figures["intelligence_index"]) for e in entries if "intelligence_index" in e.figures
    ]
    with_index.sort(key=lambda ef: ef[1].value, reverse=True)
    charts: list[Chart] = []
    if with_index:
        charts.append(
            Chart(
                id="creator-index",
                title=f"Intelligence Index of {name}'s models",
                kind="bar",
                unit="points",
                y_title="Intelligence Index",
                bars=[
                    Bar(slug=e.slug, label=e.name, value=f.value, source=f.source.label)
                    for e, f in with_index[:40]
                ],
                caption=_caption([f for _, f in with_index[:40]]),
            )
        )
    return CreatorPage(slug=creator_slug, name=name, models=models, charts=charts)
