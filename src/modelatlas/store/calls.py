"""Persisting runs and the client's call records."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelatlas import __version__
from modelatlas.endpoints.client import ChatRequest
from modelatlas.endpoints.records import CallRecord
from modelatlas.store.run_tables import CallRow, RunRow


def new_run_id(kind: str) -> str:
    """A sortable, unique run id such as ``demo-20261202T145301-3f2a9c``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{kind}-{stamp}-{uuid.uuid4().hex[:6]}"


def start_run(
    session: Session,
    *,
    kind: str,
    endpoint_slug: str,
    model_slug: str | None,
    config: dict[str, Any] | None = None,
) -> RunRow:
    """Record the start of a run (committed with the session)."""
    run = RunRow(
        id=new_run_id(kind),
        kind=kind,
        endpoint_slug=endpoint_slug,
        model_slug=model_slug,
        status="running",
        client_version=__version__,
        config=config or {},
    )
    session.add(run)
    return run


def finish_run(run: RunRow, *, status: str = "done", summary: dict[str, Any] | None = None) -> None:
    run.status = status
    run.finished_at = datetime.now(UTC)
    run.summary = summary


def request_params(request: ChatRequest) -> dict[str, Any]:
    """What was asked, without message bodies' images (kept small) and never any key."""
    params = request.model_dump(exclude={"messages"}, exclude_none=True)
    params["messages"] = [
        {"role": m.get("role"), "content": m.get("content")}
        if isinstance(m.get("content"), str)
        else {"role": m.get("role"), "content": "[multipart]"}
        for m in request.messages
    ]
    return params


def call_row(
    record: CallRecord,
    *,
    run_id: str,
    endpoint_slug: str,
    request: ChatRequest | None = None,
    label: str | None = None,
) -> CallRow:
    """The store row for one call record."""
    usage = record.usage
    error = record.error
    return CallRow(
        run_id=run_id,
        request_id=record.request_id,
        label=label,
        endpoint_slug=endpoint_slug,
        api_model=record.model,
        started_at=record.started_at,
        stream=record.stream,
        attempts=record.attempts,
        ok=record.ok,
        error_kind=error.kind.value if error else None,
        error_status=error.status if error else None,
        error_message=error.message if error else None,
        finish_reason=record.finish_reason,
        ttfb_s=record.first_byte_s,
        ttft_s=record.ttft_s,
        ttfat_s=record.ttfat_s,
        last_token_s=record.last_token_s,
        e2e_s=record.e2e_s,
        output_tokens=record.output_tokens,
        output_speed_tps=record.output_speed_tps,
        usage_prompt_tokens=usage.prompt_tokens if usage else None,
        usage_completion_tokens=usage.completion_tokens if usage else None,
        usage_reasoning_tokens=usage.reasoning_tokens if usage else None,
        usage_cached_tokens=usage.cached_tokens if usage else None,
        o200k_prompt_tokens=record.prompt_tokens_o200k,
        o200k_answer_tokens=record.answer_tokens_o200k,
        o200k_reasoning_tokens=record.reasoning_tokens_o200k,
        answer_text=record.answer,
        reasoning_text=record.reasoning or None,
        request=request_params(request) if request is not None else {},
        chunks={
            "t_s": [e.t_s for e in record.events],
            "answer_tokens": [e.answer_tokens for e in record.events],
            "reasoning_tokens": [e.reasoning_tokens for e in record.events],
        },
    )


def calls_of_run(session: Session, run_id: str) -> Sequence[CallRow]:
    return session.scalars(
        select(CallRow).where(CallRow.run_id == run_id).order_by(CallRow.started_at)
    ).all()
