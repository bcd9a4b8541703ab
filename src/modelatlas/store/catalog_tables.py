"""The catalog's tables.

- ``creators``, ``models``, ``providers``, ``endpoints``: the *resolved* catalog (built-in facts
  over imported facts), one row per entity: key columns to query on plus the full entity as JSON
  (``data``, the pydantic model's dump). Rewritten by :mod:`modelatlas.catalog.repository`
  after every import and whenever the built-in data changes; user catalog files are overlaid at
  load time and never stored.
- ``price_history``: prices per endpoint as each source stated them, with the date from which
  they apply; one row per (endpoint, source, effective date).
- ``catalog_facts``: provenance; every imported value, one row per (entity, field, source).
- ``catalog_conflicts``: fields on which sources disagree beyond rounding, with every value.
- ``catalog_imports``: one row per import (and per re-resolution of the built-in data).

Only portable types are used (``JSON``, timezone-aware ``DateTime``, ``BigInteger`` for
parameter counts), so the same tables work on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from modelatlas.store.base import Base, utcnow

SLUG_LEN = 255
ENDPOINT_SLUG_LEN = 512


class CreatorRow(Base):
    """A resolved creator."""

    __tablename__ = "creators"

    slug: Mapped[str] = mapped_column(String(SLUG_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(SLUG_LEN))
    origin: Mapped[str] = mapped_column(String(32))  # builtin | imported
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelRow(Base):
    """A resolved model."""

    __tablename__ = "models"

    slug: Mapped[str] = mapped_column(String(SLUG_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(SLUG_LEN))
    creator_slug: Mapped[str | None] = mapped_column(String(SLUG_LEN), index=True)
    release_date: Mapped[str | None] = mapped_column(String(10))
    reasoning: Mapped[bool | None] = mapped_column(Boolean)
    open_weights: Mapped[bool | None] = mapped_column(Boolean)
    total_params: Mapped[int | None] = mapped_column(BigInteger)
    active_params: Mapped[int | None] = mapped_column(BigInteger)
    context_window: Mapped[int | None] = mapped_column(Integer)
    size_class: Mapped[str | None] = mapped_column(String(16))
    family: Mapped[str | None] = mapped_column(String(SLUG_LEN))
    superseded_by: Mapped[str | None] = mapped_column(String(SLUG_LEN))
    origin: Mapped[str] = mapped_column(String(32))  # builtin | imported
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProviderRow(Base):
    """A resolved provider."""

    __tablename__ = "providers"

    slug: Mapped[str] = mapped_column(String(SLUG_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(SLUG_LEN))
    base_url: Mapped[str | None] = mapped_column(Text)
    api_key_env: Mapped[str | None] = mapped_column(String(SLUG_LEN))
    origin: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EndpointRow(Base):
    """A resolved endpoint (provider x model), with its current prices as columns."""

    __tablename__ = "endpoints"

    slug: Mapped[str] = mapped_column(String(ENDPOINT_SLUG_LEN), primary_key=True)
    provider_slug: Mapped[str] = mapped_column(String(SLUG_LEN), index=True)
    model_slug: Mapped[str] = mapped_column(String(SLUG_LEN), index=True)
    api_model_id: Mapped[str] = mapped_column(String(ENDPOINT_SLUG_LEN))
    protocol: Mapped[str | None] = mapped_column(String(32))
    price_input: Mapped[float | None] = mapped_column(Float)
    price_output: Mapped[float | None] = mapped_column(Float)
    price_cache_read: Mapped[float | None] = mapped_column(Float)
    price_cache_write: Mapped[float | None] = mapped_column(Float)
    context_limit: Mapped[int | None] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PriceHistoryRow(Base):
    """Prices of one endpoint from one source, in effect from a date (USD per 1M tokens)."""

    __tablename__ = "price_history"
    __table_args__ = (
        UniqueConstraint("endpoint_slug", "source", "effective_from", name="uq_price_history"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_slug: Mapped[str] = mapped_column(String(ENDPOINT_SLUG_LEN), index=True)
    source: Mapped[str] = mapped_column(String(32))
    source_version: Mapped[str | None] = mapped_column(String(64))
    effective_from: Mapped[date] = mapped_column(Date)
    input: Mapped[float | None] = mapped_column(Float)
    output: Mapped[float | None] = mapped_column(Float)
    cache_read: Mapped[float | None] = mapped_column(Float)
    cache_write: Mapped[float | None] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CatalogFactRow(Base):
    """One value for one field of one entity, as one source states it (provenance)."""

    __tablename__ = "catalog_facts"
    __table_args__ = (
        UniqueConstraint("entity_kind", "entity_key", "field", "source", name="uq_catalog_fact"),
        Index("ix_catalog_facts_entity", "entity_kind", "entity_key"),
        Index("ix_catalog_facts_source", "source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity_kind: Mapped[str] = mapped_column(String(16))  # creator | model | provider | endpoint
    entity_key: Mapped[str] = mapped_column(String(ENDPOINT_SLUG_LEN))
    field: Mapped[str] = mapped_column(String(64))
    value: Mapped[Any] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(32))
    source_version: Mapped[str | None] = mapped_column(String(64))
    source_date: Mapped[date | None] = mapped_column(Date)
    source_row: Mapped[str | None] = mapped_column(String(ENDPOINT_SLUG_LEN))  # key in the file
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CatalogConflictRow(Base):
    """Sources disagree on one field of one entity; ``source_values`` holds every value."""

    __tablename__ = "catalog_conflicts"
    __table_args__ = (
        UniqueConstraint("entity_kind", "entity_key", "field", name="uq_catalog_conflict"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity_kind: Mapped[str] = mapped_column(String(16))
    entity_key: Mapped[str] = mapped_column(String(ENDPOINT_SLUG_LEN))
    field: Mapped[str] = mapped_column(String(64))
    source_values: Mapped[dict[str, Any]] = mapped_column(JSON)  # {source: value}
    chosen_source: Mapped[str] = mapped_column(String(32))
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CatalogImportRow(Base):
    """One import of a source file, with what it changed."""

    __tablename__ = "catalog_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32), index=True)
    source_version: Mapped[str | None] = mapped_column(String(64))
    source_date: Mapped[date | None] = mapped_column(Date)
    path: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    entries: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    bad_rows: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    conflicts: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
