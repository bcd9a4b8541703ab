"""Runs and the calls they made: every request's timings, tokens, text and error.

A *run* is one job (a demo, a perf run, an eval run) against one endpoint; a *call* is one
request through the endpoint client, with everything the client recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from modelatlas.store.base import Base, utcnow


class RunRow(Base):
    """One job against one endpoint."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # demo | perf | eval
    endpoint_slug: Mapped[str] = mapped_column(String(255), index=True)
    model_slug: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(32), default="running")  # running|done|failed
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    client_version: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    calls: Mapped[list[CallRow]] = relationship(back_populates="run", cascade="all, delete-orphan")


class CallRow(Base):
    """One request through the endpoint client, as recorded.

    Times are seconds from the moment the request was sent (``*_s``), as measured by the
    client; token counts come from the server's usage when it sent one (``usage_*``) and from
    tiktoken ``o200k_base`` always (``o200k_*``).
    """

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_run_started", "run_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(255))  # workload or item id
    endpoint_slug: Mapped[str] = mapped_column(String(255))
    api_model: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stream: Mapped[bool] = mapped_column(Boolean)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    ok: Mapped[bool] = mapped_column(Boolean)
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error_status: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    ttfb_s: Mapped[float | None] = mapped_column(Float)
    ttft_s: Mapped[float | None] = mapped_column(Float)
    ttfat_s: Mapped[float | None] = mapped_column(Float)
    last_token_s: Mapped[float | None] = mapped_column(Float)
    e2e_s: Mapped[float | None] = mapped_column(Float)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    output_speed_tps: Mapped[float | None] = mapped_column(Float)
    usage_prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    usage_completion_tokens: Mapped[int | None] = mapped_column(Integer)
    usage_reasoning_tokens: Mapped[int | None] = mapped_column(Integer)
    usage_cached_tokens: Mapped[int | None] = mapped_column(Integer)
    o200k_prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    o200k_answer_tokens: Mapped[int | None] = mapped_column(Integer)
    o200k_reasoning_tokens: Mapped[int | None] = mapped_column(Integer)
    answer_text: Mapped[str | None] = mapped_column(Text)
    reasoning_text: Mapped[str | None] = mapped_column(Text)
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # params, never keys
    chunks: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # arrival offsets and tokens

    run: Mapped[RunRow] = relationship(back_populates="calls")
