"""The response cache key covers the whole request; entries round-trip through the store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from modelatlas.endpoints.client import ChatRequest
from modelatlas.endpoints.records import CallError, CallRecord, ErrorKind, ServerUsage
from modelatlas.evals import cache
from modelatlas.store.base import open_store

MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]


def base_request(**changes: object) -> ChatRequest:
    fields: dict[str, object] = {
        "messages": MESSAGES,
        "max_tokens": 100,
        "temperature": 0.0,
    }
    fields.update(changes)
    return ChatRequest.model_validate(fields)


def key(
    request: ChatRequest, *, endpoint: str = "http://h/v1", model: str = "m", repeat: int = 0
) -> str:
    return cache.request_key(endpoint, model, request, repeat)


def test_same_request_same_key() -> None:
    assert key(base_request()) == key(base_request())
    assert len(key(base_request())) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"messages": [{"role": "user", "content": "What is 2 + 3?"}]},
        {"messages": [{"role": "system", "content": "x"}, *MESSAGES]},
        {"max_tokens": 101},
        {"temperature": 0.6},
        {"top_p": 0.9},
        {"seed": 1},
        {"stop": ["\n"]},
        {"stream": False},
        {"include_usage": False},
        {"extra_body": {"reasoning_effort": "high"}},
    ],
)
def test_every_sampling_parameter_changes_the_key(change: dict[str, object]) -> None:
    assert key(base_request(**change)) != key(base_request())


def test_endpoint_model_and_repeat_change_the_key() -> None:
    request = base_request()
    base = key(request)
    assert key(request, endpoint="http://other/v1") != base
    assert key(request, model="m2") != base
    assert key(request, repeat=1) != base


def test_canonical_json_is_order_independent() -> None:
    assert cache.canonical_json({"b": 1, "a": [1, 2]}) == cache.canonical_json(
        {"a": [1, 2], "b": 1}
    )
    with pytest.raises(ValueError):
        cache.canonical_json({"x": float("nan")})


def _record(error: CallError | None = None) -> CallRecord:
    return CallRecord(
        request_id="r1",
        base_url="http://h/v1",
        model="m",
        stream=True,
        started_at=dt.datetime.now(dt.UTC),
        send_perf=0.0,
        answer="Answer: 4",
        finish_reason="stop",
        usage=ServerUsage(prompt_tokens=10, completion_tokens=3),
        error=error,
    )


def test_store_and_lookup_round_trip(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "c.db"))
    request = base_request()
    k = key(request)
    with store.session() as session:
        assert cache.store_response(
            session,
            key=k,
            endpoint="http://h/v1",
            request=request,
            repeat=0,
            record=_record(),
            call_id=None,
        )
        # A second store of the same key is a no-op.
        assert not cache.store_response(
            session,
            key=k,
            endpoint="http://h/v1",
            request=request,
            repeat=0,
            record=_record(),
            call_id=None,
        )
    with store.session() as session:
        found = cache.lookup(session, [k, "missing"])
    assert list(found) == [k]
    assert found[k].record.answer == "Answer: 4"
    used = found[k].record.usage
    assert used is not None and used.completion_tokens == 3
    store.close()


def test_errors_are_never_cached(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "c.db"))
    request = base_request()
    failed = _record(CallError(kind=ErrorKind.SERVER_ERROR, message="boom", status=500))
    with store.session() as session:
        assert not cache.store_response(
            session,
            key=key(request),
            endpoint="e",
            request=request,
            repeat=0,
            record=failed,
            call_id=None,
        )
    with store.session() as session:
        assert cache.lookup(session, [key(request)]) == {}
    store.close()
