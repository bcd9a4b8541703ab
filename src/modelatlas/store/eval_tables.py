"""Evaluation results: every item of every eval run, and the response cache.

An eval run is a :class:`~modelatlas.store.run_tables.RunRow` with ``kind="eval"``; its config
holds the benchmarks (with their versions), the sampling settings, repeats, limit and seed.
Each (benchmark, item, repeat) of the run is one :class:`EvalItemRow`, written as soon as its
call has finished and been scored, so an interrupted run loses nothing it finished.

The response cache (:class:`EvalCacheRow`) maps the sha256 of a full request (endpoint, model id,
messages, every sampling parameter, repeat index) to the response it got, so re-running the
same evaluation makes no calls.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from modelatlas.store.base import Base, utcnow


class EvalItemRow(Base):
    """One answer to one item (one repeat) of an eval run, with its score, tokens and cost.

    ``call_id`` links the call that produced the response; a response served from the cache
    links the call of the run that first made it (``from_cache`` is then true) and its tokens
    and cost are those of that call: what the item costs, not what this run spent.
    """

    __tablename__ = "eval_items"
    __table_args__ = (
        UniqueConstraint("run_id", "benchmark", "item_id", "repeat", name="uq_eval_items_unit"),
        Index("ix_eval_items_run_benchmark", "run_id", "benchmark"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), index=True
    )
    benchmark: Mapped[str] = mapped_column(String(64))
    benchmark_version: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[str] = mapped_column(String(255))
    repeat: Mapped[int] = mapped_column(Integer, default=0)
    request_key: Mapped[str] = mapped_column(String(64), index=True)
    from_cache: Mapped[bool] = mapped_column(Boolean, default=False)
    item: Mapped[dict[str, Any]] = mapped_column(JSON)  # the Item (input, target): rescoring
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # the prompt as sent
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # sampling parameters

    # The response (the answer channel is scored; reasoning never is).
    answer_text: Mapped[str | None] = mapped_column(Text)
    reasoning_text: Mapped[str | None] = mapped_column(Text)
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    think_unclosed: Mapped[bool] = mapped_column(Boolean, default=False)
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)

    # The score (None when the call failed).
    score: Mapped[float | None] = mapped_column(Float)
    extracted: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str | None] = mapped_column(String(64))
    no_answer: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    score_details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scorer_version: Mapped[str | None] = mapped_column(String(32))
    scored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The optional LLM equality judge's check of this answer (empty when none was asked):
    # cache key, outcome, verdict text, call id, whether it came from the cache, and the
    # judge's own tokens and cost (never counted in the model's).
    judge: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    # Tokens: the server's usage when it sent one, else tiktoken o200k (``tokens_source``).
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    cached_input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)  # reasoning included
    reasoning_tokens: Mapped[int | None] = mapped_column(Integer)
    tokens_source: Mapped[str | None] = mapped_column(String(16))

    # Timing (seconds, the call's) and cost (USD; None when a price is unknown).
    ttft_s: Mapped[float | None] = mapped_column(Float)
    e2e_s: Mapped[float | None] = mapped_column(Float)
    output_speed_tps: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    cost: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # by segment

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EvalCacheRow(Base):
    """One cached response, keyed by the sha256 of the canonical request (see ``evals.cache``).

    Only successful responses are cached (a truncated or empty answer is a response; an HTTP
    error is not). ``record`` is the client's ``CallRecord`` without its per-event arrivals;
    ``output_speed_tps`` keeps the figure computed from them.
    """

    __tablename__ = "eval_response_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(512))
    api_model: Mapped[str] = mapped_column(String(255))
    repeat: Mapped[int] = mapped_column(Integer, default=0)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    output_speed_tps: Mapped[float | None] = mapped_column(Float)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
