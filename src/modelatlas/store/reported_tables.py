"""Published ("reported") results: what another site says about a model, with source and date.

Always kept apart from what modelatlas measured (``eval_items``, ``calls``): a reported figure is
someone else's claim, stored as they published it (units converted, 0-as-unknown made null).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from modelatlas.store.base import Base, utcnow


class ReportedImportRow(Base):
    """One import of a published snapshot (re-importing the same snapshot replaces it)."""

    __tablename__ = "reported_imports"
    __table_args__ = (UniqueConstraint("source", "snapshot_date", name="uq_reported_imports"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    snapshot_date: Mapped[date] = mapped_column(Date)
    path: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    index_version: Mapped[str | None] = mapped_column(String(32))
    models: Mapped[int] = mapped_column(Integer)
    matched: Mapped[int] = mapped_column(Integer)
    notes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReportedResultRow(Base):
    """One model as a source published it on one date.

    ``evaluations`` maps our evaluation keys (``mmlu_pro``, ``gpqa_diamond``, ``aime25``, ...) to
    percent (0-100); ``indices`` maps ``intelligence``/``coding``/``math`` to the published index
    value, of ``index_version``. Prices are USD per 1M tokens; speed in tokens/s; latency in
    seconds. ``None`` means unknown (the source's 0 for price or speed is unknown, not free).
    """

    __tablename__ = "reported_results"
    __table_args__ = (
        UniqueConstraint("source", "snapshot_date", "external_id", name="uq_reported_results"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    snapshot_date: Mapped[date] = mapped_column(Date)
    external_id: Mapped[str] = mapped_column(String(64))
    external_slug: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    creator_slug: Mapped[str | None] = mapped_column(String(255))
    creator_name: Mapped[str | None] = mapped_column(String(255))
    release_date: Mapped[str | None] = mapped_column(String(10))
    model_slug: Mapped[str | None] = mapped_column(String(255), index=True)  # catalog match
    index_version: Mapped[str | None] = mapped_column(String(32))
    evaluations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    indices: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    price_input: Mapped[float | None] = mapped_column(Float)
    price_output: Mapped[float | None] = mapped_column(Float)
    price_blended_3_to_1: Mapped[float | None] = mapped_column(Float)
    median_output_tps: Mapped[float | None] = mapped_column(Float)
    median_ttft_s: Mapped[float | None] = mapped_column(Float)
    median_ttfat_s: Mapped[float | None] = mapped_column(Float)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
