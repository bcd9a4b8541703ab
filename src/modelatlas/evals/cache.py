"""The response cache: a finished call is never made twice for the same request.

The key is the sha256 of the canonical JSON (sorted keys, no spaces, UTF-8) of::

    {"v": 1, "endpoint": <endpoint identity>, "model": <API model id>,
     "request": <every field of the ChatRequest: messages, max_tokens, temperature, top_p,
                 seed, stop, stream, include_usage, extra_body>,
     "repeat": <repeat index>}

The endpoint identity is the base URL; for a managed endpoint (the embedded llama.cpp server,
whose port changes at each start) it is the catalog slug and URL template instead, so a cache
survives restarts of the server. The repeat index is part of the key: K repeats are K calls.

Calls to the optional LLM equality judge are cached in the same table under
:func:`judge_key`: the same payload without a repeat, plus ``"kind": "equality_judge"`` and the
judge prompt's version, so a verdict is reused only for exactly the same judge request.

Entries live in the store (``eval_response_cache``), written in the same transaction as the
item they answered, so a crash, SIGKILL or Ctrl-C loses at most the calls in flight.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelatlas.endpoints.client import ChatRequest
from modelatlas.endpoints.records import CallRecord
from modelatlas.store.eval_tables import EvalCacheRow

KEY_VERSION = 1


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no whitespace; NaN and infinities are refused."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def request_key(endpoint: str, model: str, request: ChatRequest, repeat: int) -> str:
    """The cache key of one request (see the module docstring)."""
    payload = {
        "v": KEY_VERSION,
        "endpoint": endpoint,
        "model": model,
        "request": request.model_dump(mode="json"),
        "repeat": repeat,
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def judge_key(endpoint: str, model: str, request: ChatRequest, prompt_version: str) -> str:
    """The cache key of one judge request (see the module docstring)."""
    payload = {
        "v": KEY_VERSION,
        "kind": "equality_judge",
        "prompt_version": prompt_version,
        "endpoint": endpoint,
        "model": model,
        "request": request.model_dump(mode="json"),
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    """A response from the cache, with the call that first produced it."""

    key: str
    record: CallRecord
    output_speed_tps: float | None
    call_id: int | None


def lookup(session: Session, keys: Iterable[str]) -> dict[str, CachedResponse]:
    """The cached responses among ``keys``."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, CachedResponse] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for row in session.scalars(select(EvalCacheRow).where(EvalCacheRow.key.in_(chunk))):
            found[row.key] = CachedResponse(
                key=row.key,
                record=CallRecord.model_validate(row.record),
                output_speed_tps=row.output_speed_tps,
                call_id=row.call_id,
            )
    return found


def store_response(
    session: Session,
    *,
    key: str,
    endpoint: str,
    request: ChatRequest,
    repeat: int,
    record: CallRecord,
    call_id: int | None,
) -> bool:
    """Cache a successful response (errors are never cached); False when not stored."""
    if record.error is not None or session.get(EvalCacheRow, key) is not None:
        return False
    session.add(
        EvalCacheRow(
            key=key,
            endpoint=endpoint,
            api_model=record.model,
            repeat=repeat,
            request=request.model_dump(mode="json"),
            record=record.model_dump(mode="json", exclude={"events"}),
            output_speed_tps=record.output_speed_tps,
            call_id=call_id,
        )
    )
    return True
