"""Each page once, for both the server and the static site: its HTML and its CSV tables."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modelatlas.analysis import sources, views
from modelatlas.analysis.atlas import Atlas, Entry
from modelatlas.store.base import Store
from modelatlas.web.render import Renderer, filters_for

COMPARE_PEERS = 5


def compare_slugs(atlas: Atlas, entry: Entry) -> list[str]:
    """The model and up to five comparable models (highest Intelligence Index first)."""
    peers = [
        atlas.entries[p.slug]
        for p in atlas.comparison_class(entry).peers
        if p.slug in atlas.entries
    ]
    version = entry.index_version()
    peers.sort(
        key=lambda e: (
            -(f.value if (f := atlas.figure_for(e, "intelligence_index", version)) else -1)
        )
    )
    return [entry.slug, *(p.slug for p in peers[:COMPARE_PEERS])]


def _built_at(atlas: Atlas) -> str:
    return atlas.built_at.strftime("%Y-%m-%d %H:%M UTC")


def model_html(renderer: Renderer, atlas: Atlas, entry: Entry, page: views.ModelPage) -> str:
    current = f"/models/{entry.slug}/"
    slugs = compare_slugs(atlas, entry)
    if renderer.static:
        compare_path = f"/compare/{entry.slug}/"
        json_path = f"/api/v1/models/{entry.slug}.json"
    else:
        compare_path = "/compare/?models=" + ",".join(slugs)
        json_path = f"/api/v1/models/{entry.slug}"
    return renderer.render(
        "model.html",
        current,
        page=page,
        compare_path=compare_path,
        json_path=json_path,
        built_at=_built_at(atlas),
    )


def leaderboard_html(
    renderer: Renderer,
    atlas: Atlas,
    rows: Sequence[views.ModelSummary],
    selected: Mapping[str, str],
    csv_path: str,
) -> str:
    return renderer.render(
        "leaderboard.html",
        "/",
        rows=rows,
        filters=filters_for(atlas),
        selected=dict(selected),
        csv_path=csv_path,
        built_at=_built_at(atlas),
    )


def compare_html(
    renderer: Renderer, atlas: Atlas, page: views.ComparePage, current: str, csv_path: str
) -> str:
    return renderer.render(
        "compare.html", current, page=page, csv_path=csv_path, built_at=_built_at(atlas)
    )


def providers_html(
    renderer: Renderer, atlas: Atlas, page: views.ProviderPage, csv_path: str
) -> str:
    current = f"/models/{page.model.slug}/providers/"
    return renderer.render(
        "providers.html", current, page=page, csv_path=csv_path, built_at=_built_at(atlas)
    )


def creator_html(renderer: Renderer, atlas: Atlas, page: views.CreatorPage, csv_path: str) -> str:
    current = f"/creators/{page.slug}/"
    return renderer.render(
        "creator.html", current, page=page, csv_path=csv_path, built_at=_built_at(atlas)
    )


def creators_list(atlas: Atlas) -> list[tuple[str, str, int]]:
    counts: dict[str, int] = {}
    for entry in atlas.entries.values():
        if entry.creator_slug:
            counts[entry.creator_slug] = counts.get(entry.creator_slug, 0) + 1
    return [(slug, name, counts.get(slug, 0)) for slug, name in atlas.creators().items()]


def creators_html(renderer: Renderer, atlas: Atlas) -> str:
    return renderer.render(
        "creators.html", "/creators/", creators=creators_list(atlas), built_at=_built_at(atlas)
    )


def provider_page(atlas: Atlas, entry: Entry, store: Store | None) -> views.ProviderPage:
    """The provider view: endpoints, daily history, price history and latest answers."""
    if store is None or not entry.in_catalog:
        return views.provider_page(atlas, entry)
    from modelatlas.catalog.repository import price_history

    prices = {e.slug: price_history(store, e.slug) for e in atlas.catalog.endpoints_for(entry.slug)}
    slugs = [m.endpoint_slug for m in entry.measured_endpoints]
    return views.provider_page(
        atlas,
        entry,
        sources.endpoint_history(store, slugs) if slugs else {},
        sources.latest_responses(store, slugs) if slugs else [],
        prices,
    )


# ----------------------------------------------------------------------------------------
# CSV
# ----------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    """A CSV cell; text starting like a formula is prefixed with ' (spreadsheet injection)."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


SUMMARY_FIELDS = [
    name for name in views.ModelSummary.model_fields if name not in ("comparison_class",)
] + ["comparison_class"]


def leaderboard_csv(rows: Sequence[views.ModelSummary]) -> str:
    return to_csv(SUMMARY_FIELDS, ([getattr(r, f) for f in SUMMARY_FIELDS] for r in rows))


def model_csv(page: views.ModelPage, table: str) -> str | None:
    if table == "facts":
        return to_csv(["fact", "value"], ([f.label, f.link or f.value] for f in page.facts))
    if table == "evaluations":
        return to_csv(
            ["evaluation", "key", "score_percent", "source_kind", "source", "date", "component_of"],
            (
                [
                    e.name,
                    e.key,
                    e.score,
                    e.source.kind,
                    e.source.label,
                    e.source.date,
                    e.index_versions,
                ]
                for e in page.evaluations
            ),
        )
    if table in ("endpoints", "providers"):
        return endpoints_csv(page.endpoints)
    return None


def endpoints_csv(rows: Sequence[views.EndpointRow]) -> str:
    fields = list(views.EndpointRow.model_fields)
    return to_csv(fields, ([getattr(r, f) for f in fields] for r in rows))


def compare_csv(page: views.ComparePage) -> str:
    header = ["metric", "unit", *(m.name for m in page.models)]
    return to_csv(header, ([r.label, r.unit, *r.values] for r in page.rows))


def creator_csv(page: views.CreatorPage) -> str:
    return leaderboard_csv(page.models)


MODEL_TABLES = ("facts", "evaluations", "endpoints")
