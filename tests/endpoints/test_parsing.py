"""Parsing after the response closed: SSE framing, arrival times, channels (no server needed)."""

from __future__ import annotations

import datetime as dt
import json

from modelatlas.endpoints.client import build_record, parse_retry_after
from modelatlas.endpoints.reasoning import split_channels
from modelatlas.endpoints.records import CallRecord, ErrorKind


def _record() -> CallRecord:
    return CallRecord(
        request_id="r",
        base_url="http://x/v1",
        model="m",
        stream=True,
        started_at=dt.datetime.now(dt.UTC),
        send_perf=0.0,
    )


def _event(content: str | None = None, **delta: object) -> bytes:
    if content is not None:
        delta["content"] = content
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta}]}).encode() + b"\n\n"


def test_event_time_is_the_read_that_completed_it() -> None:
    a, b = _event(" one"), _event(" two three")
    chunks = [a[:10], a[10:] + b[:5], b[5:], b"data: [DONE]\n\n"]
    record = build_record(_record(), times=[1.0, 2.0, 3.0, 4.0], chunks=chunks, end_s=4.5, sse=True)
    assert record.error is None
    assert [(e.t_s, e.answer_tokens) for e in record.events] == [(2.0, 1), (3.0, 2)]
    assert record.first_byte_s == 1.0
    assert record.first_token_s == 2.0
    assert record.last_token_s == 3.0
    assert record.end_s == 4.5
    assert record.output_speed_tps == 2.0  # 2 tokens after the first event, over 1 s


def test_crlf_framing_comments_and_role_chunk() -> None:
    body = (
        b": keep-alive\r\n\r\n"
        + _event("", role="assistant").replace(b"\n\n", b"\r\n\r\n")
        + b"event: message\r\n"
        + _event(" hi").replace(b"\n\n", b"\r\n\r\n")
        + b"data: [DONE]\r\n\r\n"
    )
    chunks = [body[: body.index(b"\r") + 1], body[body.index(b"\r") + 1 :]]
    record = build_record(_record(), times=[1.0, 2.0], chunks=chunks, end_s=2.0, sse=True)
    assert record.error is None
    assert record.answer == " hi"
    assert record.first_token_s == 2.0
    assert [e.tokens for e in record.events] == [0, 1]


def test_missing_done_is_connection_dropped() -> None:
    record = build_record(_record(), times=[1.0], chunks=[_event(" a")], end_s=1.0, sse=True)
    assert record.error is not None
    assert record.error.kind is ErrorKind.CONNECTION_DROPPED
    assert record.answer == " a"


def test_done_with_no_token_and_no_finish_reason_is_cut_short() -> None:
    """What llama-cpp-python sends for a request it interrupted: role chunk, then [DONE]."""
    chunks = [_event("", role="assistant"), b"data: [DONE]\n\n"]
    record = build_record(_record(), times=[1.0, 2.0], chunks=chunks, end_s=2.0, sse=True)
    assert record.error is not None
    assert record.error.kind is ErrorKind.CONNECTION_DROPPED
    assert "cut short" in record.error.message
    # An empty answer the server finished on purpose is not an error.
    done = b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
    chunks = [_event("", role="assistant"), done, b"data: [DONE]\n\n"]
    record = build_record(_record(), times=[1.0, 2.0, 3.0], chunks=chunks, end_s=3.0, sse=True)
    assert record.error is None and record.finish_reason == "stop"


def test_bad_json_is_malformed() -> None:
    chunks = [_event(" a"), b"data: {nope\n\n", b"data: [DONE]\n\n"]
    record = build_record(_record(), times=[1.0, 2.0, 3.0], chunks=chunks, end_s=3.0, sse=True)
    assert record.error is not None
    assert record.error.kind is ErrorKind.MALFORMED_RESPONSE


def test_error_object_in_stream_is_server_error() -> None:
    chunks = [_event(" a"), b'data: {"error": {"message": "engine died"}}\n\n']
    record = build_record(_record(), times=[1.0, 2.0], chunks=chunks, end_s=2.0, sse=True)
    assert record.error is not None
    assert record.error.kind is ErrorKind.SERVER_ERROR
    assert "engine died" in record.error.message


def test_think_tags_split_across_events() -> None:
    split = split_channels(["  <thi", "nk> a b", " c</th", "ink>\n\nAnswer: X"], [""] * 4, None)
    assert split.source == "think_tags"
    assert split.reasoning == " a b c"
    assert split.answer == "\n\nAnswer: X"
    assert [(e.reasoning, e.answer) for e in split.events] == [
        ("", ""),
        (" a b", ""),
        (" c", ""),
        ("", "\n\nAnswer: X"),
    ]


def test_close_tag_without_open_tag_means_reasoning_before_it() -> None:
    split = split_channels(["thinking hard", "</think>", "42"], [""] * 3, None)
    assert (split.reasoning, split.answer, split.think_unclosed) == ("thinking hard", "42", False)


def test_unclosed_think_means_no_answer() -> None:
    split = split_channels(["<think>", " still thinking"], ["", ""], None)
    assert split.think_unclosed
    assert split.answer == ""
    assert split.reasoning == " still thinking"


def test_reasoning_field_and_plain_content() -> None:
    split = split_channels(["", "", "The answer"], ["why", " because", ""], "reasoning_content")
    assert split.source == "reasoning_content"
    assert (split.reasoning, split.answer) == ("why because", "The answer")


def test_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"Retry-After": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    future = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    date = future.strftime("%a, %d %b %Y %H:%M:%S GMT")
    value = parse_retry_after({"Retry-After": date})
    assert value is not None and 25 < value <= 30
    assert parse_retry_after({}) is None
