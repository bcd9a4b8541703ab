"""The catalog the rest of the app uses: :func:`load_catalog` and :class:`Catalog`.

Resolution, highest precedence first: the user's catalog file, the built-in data, imported facts
(``models-dev``, then ``litellm``). The built-in + imported merge is stored in the ``creators``,
``models``, ``providers`` and ``endpoints`` tables after every import (and again whenever the
built-in data changes), so loading is one read per table; the user file is overlaid on load and
never stored.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modelatlas.catalog import derived
from modelatlas.catalog.facts import flatten, resolve_fields, sort_sources, unflatten
from modelatlas.catalog.files import builtin_sha256, load_builtin, load_user_file
from modelatlas.catalog.importers import (
    FactTuple,
    ImportReport,
    bulk_insert,
    load_facts,
    run_import,
    table_of,
)
from modelatlas.catalog.schema import (
    DEFAULT_ENDPOINT,
    ENTITY_CLASSES,
    CatalogFile,
    Creator,
    Endpoint,
    Model,
    Provider,
)
from modelatlas.errors import NotFoundError, UserError
from modelatlas.settings import user_catalog_path
from modelatlas.store.base import utcnow
from modelatlas.store.catalog_tables import (
    CatalogConflictRow,
    CatalogFactRow,
    CatalogImportRow,
    CreatorRow,
    EndpointRow,
    ModelRow,
    PriceHistoryRow,
    ProviderRow,
)

if TYPE_CHECKING:
    from modelatlas.store.base import Store


@dataclass(frozen=True)
class EndpointConnection:
    """Everything a client needs to call an endpoint (the key is read from ``api_key_env``)."""

    slug: str
    base_url: str | None
    api_model_id: str
    protocol: str | None
    api_key_env: str | None
    managed: str | None
    request_params: dict[str, Any]


class Catalog:
    """The resolved catalog: lookups with did-you-mean, lists, filters and derived facts."""

    def __init__(
        self,
        creators: Iterable[Creator],
        models: Iterable[Model],
        providers: Iterable[Provider],
        endpoints: Iterable[Endpoint],
        *,
        origins: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        self._creators = {c.slug: c for c in creators}
        self._models = {m.slug: m for m in models}
        self._providers = {p.slug: p for p in providers}
        self._endpoints = {e.slug: e for e in endpoints}
        self.origins: dict[tuple[str, str], str] = dict(origins or {})
        self._aliases: dict[str, str] = {}
        for model in self._models.values():
            for name in (model.slug, *model.aliases):
                self._aliases.setdefault(name.casefold(), model.slug)
        self._by_model: dict[str, list[Endpoint]] = {}
        for endpoint in self._endpoints.values():
            self._by_model.setdefault(endpoint.model, []).append(endpoint)
        self._prices: dict[str, derived.ModelPrice | None] = {}

    # -- lists ---------------------------------------------------------------------------

    def creators(self) -> list[Creator]:
        return sorted(self._creators.values(), key=lambda c: c.slug)

    def models(
        self,
        *,
        creator: str | None = None,
        reasoning: bool | None = None,
        open_weights: bool | None = None,
        include_simulated: bool = True,
    ) -> list[Model]:
        """Models, filtered: ``reasoning``/``open_weights`` None means either."""
        out = []
        for model in self._models.values():
            if creator is not None and model.creator != creator:
                continue
            if reasoning is not None and bool(model.reasoning) != reasoning:
                continue
            if open_weights is not None and bool(model.open_weights) != open_weights:
                continue
            if model.simulated and not include_simulated:
                continue
            out.append(model)
        return sorted(out, key=lambda m: m.slug)

    def all_models(self) -> Sequence[Model]:
        return list(self._models.values())

    def comparable_models(self) -> Sequence[Model]:
        """Models that comparison classes are drawn from: curated ones (built-in and the user's).

        Imported models are one per provider id (``us.anthropic.claude-...``, ``gpt-5-2025-08-07``),
        not deduplicated models, so they would count the same model many times.
        """
        return [
            m
            for m in self._models.values()
            if self.origins.get(("model", m.slug), "builtin") != "imported"
        ]

    def providers(self) -> list[Provider]:
        return sorted(self._providers.values(), key=lambda p: p.slug)

    def endpoints(self, *, provider: str | None = None, model: str | None = None) -> list[Endpoint]:
        out = [
            e
            for e in self._endpoints.values()
            if (provider is None or e.provider == provider) and (model is None or e.model == model)
        ]
        return sorted(out, key=lambda e: e.slug)

    def endpoints_for(self, model_slug: str) -> list[Endpoint]:
        return sorted(self._by_model.get(model_slug, []), key=lambda e: e.slug)

    def __len__(self) -> int:
        return len(self._models)

    # -- lookups -------------------------------------------------------------------------

    def find_model(self, slug: str) -> Model | None:
        """The model with this slug or alias (case-insensitive), or None."""
        if slug in self._models:
            return self._models[slug]
        target = self._aliases.get(slug.casefold())
        return self._models.get(target) if target else None

    def find_endpoint(self, slug: str) -> Endpoint | None:
        if slug in self._endpoints:
            return self._endpoints[slug]
        lowered = slug.casefold()
        for key, endpoint in self._endpoints.items():
            if key.casefold() == lowered:
                return endpoint
        return None

    def model(self, slug: str) -> Model:
        found = self.find_model(slug)
        if found is None:
            raise NotFoundError("model", slug, self._models)
        return found

    def endpoint(self, slug: str) -> Endpoint:
        found = self.find_endpoint(slug)
        if found is None:
            raise NotFoundError("endpoint", slug, self._endpoints)
        return found

    def default_endpoint(self) -> Endpoint:
        return self.endpoint(DEFAULT_ENDPOINT)

    def provider(self, slug: str) -> Provider:
        if slug not in self._providers:
            raise NotFoundError("provider", slug, self._providers)
        return self._providers[slug]

    def creator(self, slug: str) -> Creator:
        if slug not in self._creators:
            raise NotFoundError("creator", slug, self._creators)
        return self._creators[slug]

    def find(self, slug: str) -> Model | Endpoint:
        """A model or an endpoint by slug (models first); NotFoundError naming both."""
        found: Model | Endpoint | None = self.find_model(slug) or self.find_endpoint(slug)
        if found is None:
            known = list(self._models) + list(self._endpoints)
            close = difflib.get_close_matches(slug, known, n=3, cutoff=0.5)
            raise NotFoundError("model or endpoint", slug, close or known)
        return found

    def connection(self, slug: str) -> EndpointConnection:
        """Where and how to call an endpoint, provider defaults filled in."""
        endpoint = self.endpoint(slug)
        provider = self._providers.get(endpoint.provider)
        return EndpointConnection(
            slug=endpoint.slug,
            base_url=endpoint.base_url or (provider.base_url if provider else None),
            api_model_id=endpoint.api_model_id,
            protocol=endpoint.protocol,
            api_key_env=endpoint.api_key_env or (provider.api_key_env if provider else None),
            managed=endpoint.managed,
            request_params=dict(endpoint.request_params),
        )

    # -- derived -------------------------------------------------------------------------

    def price_of(self, model_slug: str) -> derived.ModelPrice | None:
        """The model's price: first-party, else median over its endpoints (cached)."""
        if model_slug not in self._prices:
            model = self._models.get(model_slug)
            if model is None:
                return None
            creator = self._creators.get(model.creator) if model.creator else None
            self._prices[model_slug] = derived.model_price(
                model, self.endpoints_for(model_slug), creator
            )
        return self._prices[model_slug]

    def successor(self, model: Model) -> Model | None:
        return self.find_model(model.superseded_by) if model.superseded_by else None

    def family(self, model: Model) -> list[Model]:
        """The other variants sharing this model's weights (reasoning / instruct twins)."""
        if not model.family:
            return []
        return [m for m in self.models() if m.family == model.family and m.slug != model.slug]

    def comparison_class(self, model: Model) -> derived.ComparisonClass:
        return derived.comparison_class(model, self)

    def model_facts(self, model: Model) -> dict[str, Any]:
        """The model's facts and derived facts, as ``catalog show --json`` prints them."""
        price = self.price_of(model.slug)
        successor = self.successor(model)
        cls = derived.size_class(model.total_params)
        peers = self.comparison_class(model)
        creator = self._creators.get(model.creator) if model.creator else None
        return {
            "kind": "model",
            **model.model_dump(mode="json"),
            "creator_name": creator.name if creator else None,
            "origin": self.origins.get(("model", model.slug), "builtin"),
            "derived": {
                "total_params_label": derived.params_label(model.total_params),
                "active_params_label": derived.params_label(model.active_params),
                "size_class": cls.value if cls else None,
                "size_class_label": cls.label if cls else None,
                "price": price.prices.model_dump(mode="json") if price else None,
                "price_basis": price.basis if price else None,
                "blended_price_3_to_1": _round(price.blended) if price else None,
                "price_tier": price.tier.value if price and price.tier else None,
                "price_tier_label": price.tier.label if price and price.tier else None,
                "context_window_label": derived.context_label(model.context_window),
                "context_pages": derived.context_pages(model.context_window),
                "context_pages_text": derived.context_pages_text(model.context_window),
                "superseded_by": (
                    {"slug": successor.slug, "name": successor.name}
                    if successor
                    else (
                        {"slug": model.superseded_by, "name": None} if model.superseded_by else None
                    )
                ),
                "superseded_note": (
                    f"{creator.name if creator else 'The creator'} has launched a newer model, "
                    f"{successor.name}, we suggest considering this model instead."
                    if successor
                    else None
                ),
                "family_members": [m.slug for m in self.family(model)],
                "comparison_class": {
                    "description": peers.description,
                    "peers": peers.slugs,
                },
            },
            "endpoints": [e.slug for e in self.endpoints_for(model.slug)],
        }

    def endpoint_facts(self, endpoint: Endpoint) -> dict[str, Any]:
        """The endpoint's facts and derived facts, as ``catalog show --json`` prints them."""
        conn = self.connection(endpoint.slug)
        blended = derived.blended_price(endpoint.prices)
        tier = derived.price_tier(blended)
        model = self._models.get(endpoint.model)
        return {
            "kind": "endpoint",
            **endpoint.model_dump(mode="json"),
            "origin": self.origins.get(("endpoint", endpoint.slug), "builtin"),
            "model_name": model.name if model else None,
            "resolved": {
                "base_url": conn.base_url,
                "api_key_env": conn.api_key_env,
            },
            "derived": {
                "blended_price_3_to_1": _round(blended),
                "price_tier": tier.value if tier else None,
                "price_tier_label": tier.label if tier else None,
                "price_note": "self-hosted"
                if endpoint.self_hosted
                else (None if blended is not None else "unknown (0 or missing means unknown)"),
                "context_pages_text": derived.context_pages_text(endpoint.context_limit),
            },
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


# ----------------------------------------------------------------------------------------
# Resolution
# ----------------------------------------------------------------------------------------

ENTITY_TABLES: dict[str, Any] = {
    "creator": CreatorRow,
    "model": ModelRow,
    "provider": ProviderRow,
    "endpoint": EndpointRow,
}


@dataclass
class Resolved:
    creators: list[Creator]
    models: list[Model]
    providers: list[Provider]
    endpoints: list[Endpoint]
    origins: dict[tuple[str, str], str]
    invalid: list[str]

    def catalog(self) -> Catalog:
        return Catalog(
            self.creators, self.models, self.providers, self.endpoints, origins=self.origins
        )


def resolve(builtin: CatalogFile, facts: Iterable[tuple[str, str, str, Any, str]]) -> Resolved:
    """Merge built-in entities with imported facts ``(kind, key, field, value, source)``."""
    by_entity: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    builtin_entities: dict[tuple[str, str], BaseModel] = {}
    for kind, entities in _sections(builtin):
        for entity in entities:
            ident = (kind, entity.slug)  # type: ignore[attr-defined]
            builtin_entities[ident] = entity
            fields = by_entity.setdefault(ident, {})
            for fname, value in flatten(entity).items():
                fields.setdefault(fname, {})["builtin"] = value
    for kind, key, fname, value, source in facts:
        by_entity.setdefault((kind, key), {}).setdefault(fname, {})[source] = value

    out: dict[str, list[Any]] = {k: [] for k in ENTITY_CLASSES}
    origins: dict[tuple[str, str], str] = {}
    invalid: list[str] = []
    # An imported endpoint's model may be known only by name: make sure it exists.
    for (kind, _key), fields in list(by_entity.items()):
        if kind == "endpoint" and "model" in fields:
            model_slug = fields["model"][sort_sources(fields["model"])[0]]
            target = by_entity.setdefault(("model", model_slug), {})
            target.setdefault("name", {"derived": model_slug})
    for (kind, key), fields in by_entity.items():
        cls = ENTITY_CLASSES[kind]
        values = resolve_fields(fields)
        if kind == "model":
            values.setdefault("name", key)
        if kind == "provider":
            values.setdefault("name", key)
        if kind == "creator":
            values.setdefault("name", key)
        data = unflatten(values)
        data["slug"] = key
        builtin_entity = builtin_entities.get((kind, key))
        if builtin_entity is not None and kind == "endpoint":
            data["price_history"] = [
                p.model_dump(mode="python")
                for p in builtin_entity.price_history  # type: ignore[attr-defined]
            ]
        try:
            entity = cls.model_validate(data)
        except ValidationError as exc:
            if builtin_entity is not None:
                out[kind].append(builtin_entity)
                origins[(kind, key)] = "builtin"
                invalid.append(f"{kind} {key}: imported facts ignored: {exc.errors()[0]['msg']}")
                continue
            invalid.append(f"{kind} {key}: {exc.errors()[0]['msg']}")
            continue
        out[kind].append(entity)
        origins[(kind, key)] = "builtin" if builtin_entity is not None else "imported"
    # Drop imported endpoints whose provider is unknown (cannot be called).
    providers = {p.slug for p in out["provider"]}
    models = {m.slug for m in out["model"]}
    kept = []
    for endpoint in out["endpoint"]:
        if endpoint.provider in providers and endpoint.model in models:
            kept.append(endpoint)
        else:
            invalid.append(f"endpoint {endpoint.slug}: unknown provider or model")
    return Resolved(
        creators=out["creator"],
        models=out["model"],
        providers=out["provider"],
        endpoints=kept,
        origins=origins,
        invalid=invalid,
    )


def _sections(catalog: CatalogFile) -> list[tuple[str, Sequence[BaseModel]]]:
    return [
        ("creator", catalog.creators),
        ("model", catalog.models),
        ("provider", catalog.providers),
        ("endpoint", catalog.endpoints),
    ]


def _row_values(kind: str, entity: Any, origin: str) -> dict[str, Any]:
    data = entity.model_dump(mode="json")
    base: dict[str, Any] = {"slug": entity.slug, "origin": origin, "data": data}
    if kind == "creator":
        base["name"] = entity.name
    elif kind == "model":
        cls = derived.size_class(entity.total_params)
        base.update(
            name=entity.name[:255],
            creator_slug=entity.creator,
            release_date=entity.release_date,
            reasoning=entity.reasoning,
            open_weights=entity.open_weights,
            total_params=entity.total_params,
            active_params=entity.active_params,
            context_window=entity.context_window,
            size_class=cls.value if cls else None,
            family=entity.family,
            superseded_by=entity.superseded_by,
        )
    elif kind == "provider":
        base.update(
            name=entity.name[:255], base_url=entity.base_url, api_key_env=entity.api_key_env
        )
    else:
        base.update(
            provider_slug=entity.provider,
            model_slug=entity.model,
            api_model_id=entity.api_model_id[:512],
            protocol=entity.protocol,
            price_input=entity.prices.input,
            price_output=entity.prices.output,
            price_cache_read=entity.prices.cache_read,
            price_cache_write=entity.prices.cache_write,
            context_limit=entity.context_limit,
        )
    return base


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def write_resolved(session: Session, resolved: Resolved) -> int:
    """Store the resolved entities, touching only rows that changed; returns rows written."""
    now = utcnow()
    written = 0
    entities: dict[str, list[Any]] = {
        "creator": resolved.creators,
        "model": resolved.models,
        "provider": resolved.providers,
        "endpoint": resolved.endpoints,
    }
    for kind, items in entities.items():
        row_cls = ENTITY_TABLES[kind]
        table = table_of(row_cls)
        existing = {
            slug: (origin, _canonical(data))
            for slug, origin, data in session.execute(
                select(row_cls.slug, row_cls.origin, row_cls.data)
            )
        }
        wanted: dict[str, dict[str, Any]] = {}
        for entity in items:
            origin = resolved.origins.get((kind, entity.slug), "imported")
            wanted[entity.slug] = _row_values(kind, entity, origin)
        stale = [
            slug
            for slug, (origin, data) in existing.items()
            if slug not in wanted
            or wanted[slug]["origin"] != origin
            or _canonical(wanted[slug]["data"]) != data
        ]
        fresh = [
            {**values, "updated_at": now}
            for slug, values in wanted.items()
            if slug not in existing or slug in stale
        ]
        for i in range(0, len(stale), 500):
            session.execute(delete(table).where(table.c.slug.in_(stale[i : i + 500])))
        bulk_insert(session, table, fresh)
        written += len(fresh)
    _write_builtin_prices(session, load_builtin())
    return written


def _write_builtin_prices(session: Session, builtin: CatalogFile) -> None:
    """The built-in price points (current prices with a date, plus any history)."""
    wanted: dict[tuple[str, date], dict[str, Any]] = {}
    for endpoint in builtin.endpoints:
        points = list(endpoint.price_history)
        for point in points:
            wanted[(endpoint.slug, point.effective_from)] = {
                "input": point.input,
                "output": point.output,
                "cache_read": point.cache_read,
                "cache_write": point.cache_write,
            }
        if endpoint.prices_effective_from is not None and not endpoint.self_hosted:
            wanted[(endpoint.slug, endpoint.prices_effective_from)] = endpoint.prices.model_dump()
    table = table_of(PriceHistoryRow)
    existing = {
        (r.endpoint_slug, r.effective_from): (
            r.id,
            (r.input, r.output, r.cache_read, r.cache_write),
        )
        for r in session.execute(
            select(
                PriceHistoryRow.id,
                PriceHistoryRow.endpoint_slug,
                PriceHistoryRow.effective_from,
                PriceHistoryRow.input,
                PriceHistoryRow.output,
                PriceHistoryRow.cache_read,
                PriceHistoryRow.cache_write,
            ).where(PriceHistoryRow.source == "builtin")
        )
    }
    inserts = []
    for key, prices in wanted.items():
        values = (prices["input"], prices["output"], prices["cache_read"], prices["cache_write"])
        old = existing.get(key)
        if old is not None and old[1] == values:
            continue
        if old is not None:
            session.execute(delete(table).where(table.c.id == old[0]))
        inserts.append(
            {"endpoint_slug": key[0], "source": "builtin", "effective_from": key[1], **prices}
        )
    for key, (row_id, _values) in existing.items():
        if key not in wanted:
            session.execute(delete(table).where(table.c.id == row_id))
    bulk_insert(session, table, inserts)


def resolve_store(session: Session, facts: list[FactTuple] | None = None) -> Resolved:
    """Re-resolve built-in + stored facts and write the result to the entity tables.

    ``facts`` saves reading them again when the caller (an import) already has them all.
    """
    builtin = load_builtin()
    resolved = resolve(builtin, facts if facts is not None else load_facts(session))
    write_resolved(session, resolved)
    sha = builtin_sha256()
    last = session.execute(
        select(CatalogImportRow.sha256)
        .where(CatalogImportRow.source == "builtin")
        .order_by(CatalogImportRow.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if last != sha:
        now = utcnow()
        session.add(
            CatalogImportRow(
                source="builtin",
                source_version=None,
                path="modelatlas/catalog/data/builtin.toml",
                sha256=sha,
                started_at=now,
                finished_at=now,
                entries=len(builtin.models) + len(builtin.endpoints),
                report={"invalid": resolved.invalid[:50]},
            )
        )
    return resolved


def _stored_is_current(session: Session) -> bool:
    last = session.execute(
        select(CatalogImportRow.sha256)
        .where(CatalogImportRow.source == "builtin")
        .order_by(CatalogImportRow.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return last == builtin_sha256()


def _read_stored(session: Session) -> Resolved:
    out: dict[str, list[Any]] = {}
    origins: dict[tuple[str, str], str] = {}
    for kind, row_cls in ENTITY_TABLES.items():
        cls = ENTITY_CLASSES[kind]
        items = []
        for slug, origin, data in session.execute(
            select(row_cls.slug, row_cls.origin, row_cls.data)
        ):
            items.append(cls.model_validate(data))
            origins[(kind, slug)] = origin
        out[kind] = items
    return Resolved(
        creators=out["creator"],
        models=out["model"],
        providers=out["provider"],
        endpoints=out["endpoint"],
        origins=origins,
        invalid=[],
    )


# ----------------------------------------------------------------------------------------
# Public entry points
# ----------------------------------------------------------------------------------------


def load_catalog(
    store: Store | None = None,
    *,
    user_catalog: Path | None = None,
    use_user_catalog: bool = True,
) -> Catalog:
    """The resolved catalog.

    - ``store``: include facts imported into this store (else built-in facts only). The stored
      resolution is refreshed first if the built-in data changed since it was written.
    - ``user_catalog``: a user catalog file (must exist); by default the file at
      :func:`modelatlas.settings.user_catalog_path` is used when it exists.
    - ``use_user_catalog=False`` ignores user files (e.g. to see what the user overrides).
    """
    if store is None:
        base = resolve(load_builtin(), ())
    else:
        with store.session() as session:
            current = _stored_is_current(session)
            base = _read_stored(session) if current else resolve_store(session)
    catalog = base.catalog()
    if not use_user_catalog:
        return catalog
    path = user_catalog
    if path is None:
        default = user_catalog_path()
        path = default if default.is_file() else None
    if path is None:
        return catalog
    return overlay_user_file(catalog, path)


def overlay_user_file(catalog: Catalog, path: Path) -> Catalog:
    """The catalog with a user file's entries added or amended (the user's word is final)."""
    existing: dict[str, dict[str, BaseModel]] = {
        "creator": {c.slug: c for c in catalog.creators()},
        "model": {m.slug: m for m in catalog.all_models()},
        "provider": {p.slug: p for p in catalog.providers()},
        "endpoint": {e.slug: e for e in catalog.endpoints()},
    }
    user, _fields = load_user_file(path, existing)
    origins = dict(catalog.origins)
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in existing.items()}
    for kind, entities in _sections(user):
        for entity in entities:
            slug = entity.slug  # type: ignore[attr-defined]
            merged[kind][slug] = entity
            origins[(kind, slug)] = "user"
    _check_references(path, user, merged)
    return Catalog(
        merged["creator"].values(),
        merged["model"].values(),
        merged["provider"].values(),
        merged["endpoint"].values(),
        origins=origins,
    )


def _check_references(
    path: Path, user: CatalogFile, merged: Mapping[str, Mapping[str, Any]]
) -> None:
    """A user entry naming an unknown provider, model or creator is an error with the field."""

    def check(section: str, index: int, fname: str, value: str | None, kind: str) -> None:
        if value is None or value in merged[kind]:
            return
        close = difflib.get_close_matches(value, list(merged[kind]), n=3, cutoff=0.5)
        hint = f"Did you mean: {', '.join(close)}?" if close else None
        raise UserError(f"{path}: {section}[{index}].{fname}: unknown {kind} '{value}'", hint=hint)

    for i, endpoint in enumerate(user.endpoints):
        check("endpoints", i, "provider", endpoint.provider, "provider")
        check("endpoints", i, "model", endpoint.model, "model")
    for i, model in enumerate(user.models):
        check("models", i, "creator", model.creator, "creator")
        check("models", i, "superseded_by", model.superseded_by, "model")


def import_source(store: Store, source: str, path: Path | None = None) -> ImportReport:
    """Import ``source`` (``models-dev`` or ``litellm``) from ``path`` into ``store``."""
    with store.session() as session:
        return run_import(
            session, source, path, resolve=resolve_store, is_current=_stored_is_current
        )


@dataclass(frozen=True)
class FactRecord:
    """One source's value for one field (provenance)."""

    field: str
    value: Any
    source: str
    source_version: str | None
    source_date: date | None
    imported_at: str | None
    source_row: str | None


def provenance(store: Store | None, kind: str, key: str) -> dict[str, list[FactRecord]]:
    """Every source's value per field of one entity, preferred source first."""
    out: dict[str, list[FactRecord]] = {}
    builtin = load_builtin()
    for k, entities in _sections(builtin):
        if k != kind:
            continue
        for entity in entities:
            if entity.slug == key:  # type: ignore[attr-defined]
                for fname, value in flatten(entity).items():
                    out.setdefault(fname, []).append(
                        FactRecord(fname, value, "builtin", None, None, None, None)
                    )
    if store is not None:
        with store.session() as session:
            rows = session.execute(
                select(CatalogFactRow).where(
                    CatalogFactRow.entity_kind == kind, CatalogFactRow.entity_key == key
                )
            ).scalars()
            for r in rows:
                out.setdefault(r.field, []).append(
                    FactRecord(
                        r.field,
                        r.value,
                        r.source,
                        r.source_version,
                        r.source_date,
                        r.imported_at.isoformat() if r.imported_at else None,
                        r.source_row,
                    )
                )
    for records in out.values():
        order = sort_sources(r.source for r in records)
        records.sort(key=lambda r: order.index(r.source))
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class StoredConflict:
    entity_kind: str
    entity_key: str
    field: str
    values: dict[str, Any]
    chosen_source: str
    detected_at: str


def list_conflicts(
    store: Store, *, kind: str | None = None, key: str | None = None
) -> list[StoredConflict]:
    """Recorded conflicts, conflicts involving built-in facts first."""
    with store.session() as session:
        query = select(CatalogConflictRow)
        if kind is not None:
            query = query.where(CatalogConflictRow.entity_kind == kind)
        if key is not None:
            query = query.where(CatalogConflictRow.entity_key == key)
        rows = session.execute(query).scalars().all()
        out = [
            StoredConflict(
                r.entity_kind,
                r.entity_key,
                r.field,
                dict(r.source_values),
                r.chosen_source,
                r.detected_at.isoformat(),
            )
            for r in rows
        ]
    out.sort(key=lambda c: ("builtin" not in c.values, c.entity_kind, c.entity_key, c.field))
    return out


def price_history(store: Store | None, endpoint_slug: str) -> list[dict[str, Any]]:
    """Every recorded price of an endpoint, oldest first."""
    if store is None:
        builtin = {e.slug: e for e in load_builtin().endpoints}.get(endpoint_slug)
        if builtin is None or builtin.prices_effective_from is None:
            return []
        return [
            {
                "source": "builtin",
                "effective_from": builtin.prices_effective_from.isoformat(),
                **builtin.prices.model_dump(),
            }
        ]
    with store.session() as session:
        rows = session.execute(
            select(PriceHistoryRow)
            .where(PriceHistoryRow.endpoint_slug == endpoint_slug)
            .order_by(PriceHistoryRow.effective_from, PriceHistoryRow.source)
        ).scalars()
        return [
            {
                "source": r.source,
                "source_version": r.source_version,
                "effective_from": r.effective_from.isoformat(),
                "input": r.input,
                "output": r.output,
                "cache_read": r.cache_read,
                "cache_write": r.cache_write,
            }
            for r in rows
        ]
