"""The minimal HTTP/1.1 transport (``ClientOptions(transport="wire")``, perf's default) against
the real simulator and against raw TCP servers that misbehave on purpose.

Every record is produced by :meth:`EndpointClient.chat_raw`, the path perf runs take; the same
call on aiohttp must give the same answer, classification and attempt count.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from modelatlas.endpoints.client import (
    ChatRequest,
    ClientOptions,
    EndpointClient,
    EndpointSpec,
    user_message,
)
from modelatlas.endpoints.records import CallRecord, ErrorKind
from modelatlas.endpoints.sim import ANSWER_WORD, REASONING_WORD, fetch_log

from .conftest import Sim
from .test_client_sim import TIMING_TRIES, assert_timings_match, last_log

WIRE = ClientOptions(transport="wire", backoff_base_s=0.01, backoff_max_s=0.05, seed=1)


async def raw_calls(
    url: str, n: int = 1, *, options: ClientOptions = WIRE, **request: object
) -> tuple[list[CallRecord], EndpointClient]:
    """``n`` concurrent ``chat_raw`` calls on one client; returns parsed records and the client
    (closed) so tests can look at its connection pool."""
    request.setdefault("messages", [user_message("Say hello.")])
    client = EndpointClient(EndpointSpec(base_url=url, model="sim"), options)
    async with client:
        chat = ChatRequest.model_validate(request)
        raws = await asyncio.gather(*(client.chat_raw(chat) for _ in range(n)))
    return [raw.record() for raw in raws], client


async def one(url: str, **kwargs: object) -> CallRecord:
    records, _ = await raw_calls(url, **kwargs)  # type: ignore[arg-type]
    return records[0]


@pytest.mark.parametrize(
    ("tokens_per_chunk", "reasoning", "usage"), [(1, 0, True), (3, 12, False), (4, 0, False)]
)
async def test_timings_match_the_simulator(
    sim: Sim, tokens_per_chunk: int, reasoning: int, usage: bool
) -> None:
    url = sim.set(
        ttft_s=0.1,
        itl_s=0.02,
        tokens_per_chunk=tokens_per_chunk,
        reasoning_tokens=reasoning,
        usage=usage,
    )
    failure: AssertionError | None = None
    for _ in range(TIMING_TRIES):
        record = await one(url, max_tokens=61)
        assert record.ok, record.error
        try:
            assert_timings_match(record, last_log(url, record))
        except AssertionError as exc:
            failure = exc
            continue
        break
    else:
        assert failure is not None
        raise failure
    assert record.output_tokens == 61
    assert record.reasoning == REASONING_WORD * reasoning
    assert record.answer == ANSWER_WORD * (61 - reasoning)
    assert (record.usage is not None) is usage
    if reasoning:
        assert record.ttfat_s is not None and record.ttft_s is not None
        assert record.ttfat_s > record.ttft_s


async def test_non_streaming_content_length_body(sim: Sim) -> None:
    url = sim.set(ttft_s=0.05, itl_s=0.001)
    record = await one(url, max_tokens=7, stream=False)
    assert record.ok, record.error
    assert record.answer == ANSWER_WORD * 7
    assert record.usage is not None and record.usage.completion_tokens == 7
    assert record.ttft_s is not None and record.ttft_s >= 0.05


async def test_keep_alive_reuses_connections(sim: Sim) -> None:
    url = sim.set(ttft_s=0.01, itl_s=0.001)
    spec = EndpointSpec(base_url=url, model="sim")
    async with EndpointClient(spec, WIRE) as client:
        chat = ChatRequest(messages=[user_message("hi")], max_tokens=3)
        for _ in range(3):  # 3 rounds of 8 concurrent calls: 8 connections, reused
            raws = await asyncio.gather(*(client.chat_raw(chat) for _ in range(8)))
            assert all(raw.record().ok for raw in raws)
        assert client._wire is not None
        assert client._wire.connections_opened == 8
    assert len(fetch_log(url)) == 24


@pytest.mark.parametrize("transport", ["wire", "aiohttp"])
@pytest.mark.parametrize(
    ("fault", "kind", "attempts"),
    [
        ({"kind": "rate_limit", "first": 1, "retry_after_s": 0.05}, None, 2),
        ({"kind": "server_error", "first": 1, "status": 500}, None, 2),
        ({"kind": "server_error", "every": 1, "status": 422}, ErrorKind.CLIENT_ERROR, 1),
        ({"kind": "drop", "every": 1, "after_chunks": 3}, ErrorKind.CONNECTION_DROPPED, 3),
        ({"kind": "malformed", "every": 1, "after_chunks": 2}, ErrorKind.MALFORMED_RESPONSE, 1),
    ],
)
async def test_faults_classified_as_on_aiohttp(
    sim: Sim, transport: str, fault: dict[str, object], kind: ErrorKind | None, attempts: int
) -> None:
    url = sim.set(ttft_s=0.01, itl_s=0.002, faults=[fault])
    options = WIRE.model_copy(update={"transport": transport, "max_attempts": 3})
    record = await one(url, max_tokens=10, options=options)
    assert record.attempts == attempts
    if kind is None:
        assert record.ok, record.error
        assert record.answer == ANSWER_WORD * 10
        status = 429 if fault["kind"] == "rate_limit" else 500
        assert [e.status for e in record.attempt_errors] == [status]
    else:
        assert record.error is not None
        assert record.error.kind is kind
    if fault["kind"] == "drop":
        assert record.answer == ANSWER_WORD * 3  # what came before the drop is kept
    if fault.get("status") == 422:
        assert record.error is not None and record.error.status == 422
        assert record.error.body_snippet is not None and "simulated" in record.error.body_snippet
    # The connection a fault left behind is not reused for the next call.
    sim.set(ttft_s=0.01, itl_s=0.002)
    assert (await one(url, max_tokens=2, options=options)).ok


async def test_unreachable_url_is_connect_failed(free_port_url: str) -> None:
    record = await one(
        free_port_url, max_tokens=2, options=WIRE.model_copy(update={"max_attempts": 1})
    )
    assert record.error is not None
    assert record.error.kind is ErrorKind.CONNECT_FAILED
    assert "refused" in record.error.message


async def test_idle_timeout(sim: Sim) -> None:
    url = sim.set(ttft_s=2.0, role_chunk=False)
    options = WIRE.model_copy(update={"max_attempts": 1, "idle_timeout_s": 0.3})
    record = await one(url, max_tokens=5, options=options)
    assert record.error is not None
    assert record.error.kind is ErrorKind.TIMEOUT


# --- servers that are not HTTP, or break HTTP's framing -----------------------------------------


@pytest.fixture
def raw_server() -> Iterator[tuple[list[bytes], str]]:
    """A TCP server answering every connection with the bytes in the returned list (set by
    the test), then closing. Yields ``(replies, base_url)``."""
    replies: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(replies[0])
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield replies, f"http://127.0.0.1:{port}/v1"
    stop.set()
    thread.join()
    listener.close()


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", ErrorKind.MALFORMED_RESPONSE),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: text/event-stream\r\n\r\nzz\r\n",
            ErrorKind.MALFORMED_RESPONSE,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n"
            b"Content-Type: text/event-stream\r\n\r\ndata: {}\n\n",
            ErrorKind.CONNECTION_DROPPED,
        ),
    ],
    ids=["not-http", "bad-chunk-size", "short-body"],
)
async def test_broken_servers_are_classified(
    raw_server: tuple[list[bytes], str], reply: bytes, kind: ErrorKind
) -> None:
    replies, url = raw_server
    replies.append(reply)
    record = await one(url, max_tokens=2, options=WIRE.model_copy(update={"max_attempts": 1}))
    assert record.error is not None
    assert record.error.kind is kind, record.error


async def test_a_close_delimited_stream_is_read_to_the_end(
    raw_server: tuple[list[bytes], str],
) -> None:
    """HTTP/1.0-style: no length, no chunking, the body ends when the server closes."""
    replies, url = raw_server
    events = [
        b'data: {"choices":[{"index":0,"delta":{"content":"' + ANSWER_WORD.encode() + b'"}}]}\n\n'
    ] * 3
    replies.append(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
        + b"".join(events)
        + b"data: [DONE]\n\n"
    )
    record = await one(url, max_tokens=3, options=WIRE.model_copy(update={"max_attempts": 1}))
    assert record.ok, record.error
    assert record.answer == ANSWER_WORD * 3
