"""A simulated OpenAI-compatible endpoint with a known schedule, for tests and calibration.

Routes: ``POST /v1/chat/completions`` (streaming and not), ``GET /v1/models``, ``GET /health``,
and the control routes ``GET /sim/log``, ``POST /sim/reset``, ``GET|POST /sim/config``.

Schedule of one request received at ``r`` (all visible token chunks are equally spaced):
token chunk ``j`` (0-based, reasoning chunks first, then answer chunks; hidden reasoning chunks
take their slots without being sent) is sent at ``r + ttft_s + j * itl_s``, where ``r`` is when
the request's first byte arrived. Timers target these absolute deadlines on the loop clock, so
lateness does not accumulate. With ``role_chunk`` a
token-less ``{"role": "assistant"}`` chunk goes out at once; after the last token chunk come a
``finish_reason`` chunk, the usage chunk (when ``usage`` is on and the client asked with
``stream_options.include_usage``) and ``data: [DONE]``. A non-streaming reply is sent at the last
chunk's deadline.

Every token chunk holds exactly ``tokens_per_chunk`` o200k tokens (the last of a channel may hold
fewer): answers are made of ``ANSWER_WORD`` and reasoning of ``REASONING_WORD``, each one o200k
token, also when repeated. In ``think`` form the first reasoning chunk starts with ``<think>`` and
the first answer chunk with ``</think>``; tags carry no counted tokens. Token budget: reasoning
``min(reasoning_tokens, max_tokens)``, then the answer: ``output_tokens`` if set, else the
request's ``max_tokens``, else ``default_output_tokens`` (capped by what the budget leaves).

The server logs each request: receipt (wall clock and ``time.perf_counter``), and for each chunk
its kind, send time (offset from receipt and absolute ``perf_counter``, taken just before the
bytes are written) and tokens per channel. ``perf_counter`` is the host's monotonic clock on
Linux, so these can be compared with a client's ``CallRecord.send_perf`` in another process.

The server is a small HTTP/1.1 implementation on asyncio's Protocol API (uvloop's loop when
installed), not a web framework: one timer callback per token chunk writes pre-framed bytes.
On one core of the 2-vCPU development VM it keeps its schedule (TTFT within 0.3 ms of 50 ms) up
to about 20,000 token chunks/s (1,024 streams of a chunk every 50 ms); see
``benchmarks/perf/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import random
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

ANSWER_WORD = " hello"
"""One o200k token, also when repeated: ``count(" hello" * k) == k``."""
REASONING_WORD = " hmm"
"""One o200k token, also when repeated."""

ReasoningField = Literal["reasoning_content", "reasoning", "think", "hidden"]


class FaultKind(StrEnum):
    RATE_LIMIT = "rate_limit"
    """HTTP 429 with ``Retry-After: retry_after_s`` (default 1)."""
    SERVER_ERROR = "server_error"
    """HTTP ``status`` (default 500), with Retry-After only when ``retry_after_s`` is set."""
    DROP = "drop"
    """Close the connection after ``after_chunks`` token chunks (at once when not streaming)."""
    MALFORMED = "malformed"
    """Send an SSE event with broken JSON after ``after_chunks`` token chunks, then go on."""


class Fault(BaseModel):
    """An injected fault. It fires on request ``n`` (1-based count of chat requests) when
    ``n <= first``, or ``n % every == 0``, or with probability ``rate``."""

    kind: FaultKind
    every: int = 0
    first: int = 0
    rate: float = 0.0
    status: int | None = None
    retry_after_s: float | None = None
    after_chunks: int = 2

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Parse ``kind[:key=value,...]``, e.g. ``rate_limit:every=3,retry_after_s=0.5``."""
        kind, _, rest = spec.partition(":")
        fields: dict[str, Any] = {"kind": kind.strip()}
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"fault option {item!r} is not key=value")
            fields[key.strip()] = value.strip()
        return cls.model_validate(fields)

    def fires(self, n: int, rng: random.Random) -> bool:
        if self.first and n <= self.first:
            return True
        if self.every and n % self.every == 0:
            return True
        return bool(self.rate) and rng.random() < self.rate


class SimConfig(BaseModel):
    """How the simulated endpoint behaves (see the module docstring for the schedule)."""

    model: str = "sim-model"
    ttft_s: float = Field(default=0.05, ge=0)
    itl_s: float = Field(default=0.01, ge=0)
    """Seconds between token chunks."""
    tokens_per_chunk: int = Field(default=1, ge=1)
    output_tokens: int | None = Field(default=None, ge=0)
    """Answer tokens; default: the request's max_tokens, else ``default_output_tokens``."""
    default_output_tokens: int = Field(default=64, ge=0)
    reasoning_tokens: int = Field(default=0, ge=0)
    reasoning_field: ReasoningField = "reasoning_content"
    usage: bool = True
    """Report usage (in streams only when the client sets stream_options.include_usage)."""
    usage_token_factor: float = Field(default=1.0, gt=0)
    """Reported completion tokens = round(emitted * factor): a server tokenizer unlike o200k."""
    role_chunk: bool = True
    reject_stream_options: bool = False
    """Answer 400 to requests with ``stream_options`` (as some servers do)."""
    api_key: str | None = None
    """When set, require ``Authorization: Bearer <api_key>``; a wrong key gets a 401 that
    echoes it (as some providers do), to test that clients scrub keys from errors."""
    faults: list[Fault] = Field(default_factory=list)
    seed: int = 0
    """Seed for fault rates."""


class SimChunk(BaseModel):
    """One thing the server wrote: ``role``, ``token``, ``finish``, ``usage``, ``done``,
    ``malformed``."""

    kind: str
    t_s: float
    """Seconds from receipt (perf_counter), taken just before the write: a lower bound for
    its arrival anywhere."""
    perf: float
    answer_tokens: int = 0
    reasoning_tokens: int = 0


class SimRequestLog(BaseModel):
    """What the server received and sent for one chat request."""

    n: int
    request_id: str | None
    received_at: dt.datetime
    recv_perf: float
    stream: bool
    include_usage: bool
    max_tokens: int | None
    fault: FaultKind | None = None
    status: int = 200
    chunks: list[SimChunk] = Field(default_factory=list)
    end_s: float | None = None
    client_disconnected: bool = False
    """The client went away before the response was complete."""

    @property
    def token_chunks(self) -> list[SimChunk]:
        """Chunks that carried tokens (``token``, or the whole ``body`` when not streaming)."""
        return [c for c in self.chunks if c.kind in ("token", "body")]

    @property
    def first_token_s(self) -> float | None:
        chunks = self.token_chunks
        return chunks[0].t_s if chunks else None

    @property
    def first_answer_s(self) -> float | None:
        return next((c.t_s for c in self.token_chunks if c.answer_tokens), None)

    @property
    def output_speed_tps(self) -> float | None:
        """(tokens after the first token chunk) / (last - first token chunk send time)."""
        chunks = self.token_chunks
        if len(chunks) < 2 or chunks[-1].t_s <= chunks[0].t_s:
            return None
        after = sum(c.answer_tokens + c.reasoning_tokens for c in chunks[1:])
        return after / (chunks[-1].t_s - chunks[0].t_s)


# --- the server -------------------------------------------------------------------------------
#
# A small HTTP/1.1 server on asyncio's Protocol API rather than a web framework: each token chunk
# is one timer callback that writes pre-framed bytes to the transport, with no coroutine, task or
# per-chunk object on the hot path. That keeps one core ahead of the clients it measures (it
# must not saturate before them). It speaks what OpenAI-compatible clients send: keep-alive,
# pipelined requests answered in order, ``Content-Length`` request bodies, chunked responses.

_perf = time.perf_counter
_MAX_HEAD = 64 * 1024
_MAX_BODY = 64 * 1024 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _framed(data: bytes) -> bytes:
    """One HTTP/1.1 chunk of a chunked response body."""
    return b"%x\r\n%b\r\n" % (len(data), data)


_LAST_CHUNK = b"0\r\n\r\n"
_MALFORMED = _framed(b'data: {"choices": [{"delta": {"content": "oops"\n\n')


class _Entry:
    """A request's log while it runs (cheap to fill); :meth:`to_log` makes the public record."""

    __slots__ = (
        "chunks",
        "client_disconnected",
        "end_s",
        "fault",
        "include_usage",
        "max_tokens",
        "n",
        "received_at",
        "recv_perf",
        "request_id",
        "status",
        "stream",
    )

    def __init__(
        self,
        n: int,
        request_id: str | None,
        received_at: dt.datetime,
        recv_perf: float,
        stream: bool,
        include_usage: bool,
        max_tokens: int | None,
    ) -> None:
        self.n = n
        self.request_id = request_id
        self.received_at = received_at
        self.recv_perf = recv_perf
        self.stream = stream
        self.include_usage = include_usage
        self.max_tokens = max_tokens
        self.fault: FaultKind | None = None
        self.status = 200
        self.chunks: list[tuple[str, float, int, int]] = []
        """(kind, perf_counter just before the write, answer tokens, reasoning tokens)"""
        self.end_s: float | None = None
        self.client_disconnected = False

    def to_log(self) -> SimRequestLog:
        r0 = self.recv_perf
        return SimRequestLog(
            n=self.n,
            request_id=self.request_id,
            received_at=self.received_at,
            recv_perf=r0,
            stream=self.stream,
            include_usage=self.include_usage,
            max_tokens=self.max_tokens,
            fault=self.fault,
            status=self.status,
            chunks=[
                SimChunk(kind=k, t_s=t - r0, perf=t, answer_tokens=a, reasoning_tokens=r)
                for k, t, a, r in self.chunks
            ],
            end_s=self.end_s,
            client_disconnected=self.client_disconnected,
        )


class _SimState:
    def __init__(self, config: SimConfig, log_path: Path | None) -> None:
        self.config = config
        self.entries: list[_Entry] = []
        self.count = 0
        self.rng = random.Random(config.seed)
        self.log_file: IO[str] | None = log_path.open("a", encoding="utf-8") if log_path else None

    def reset(self, config: SimConfig | None = None) -> None:
        if config is not None:
            self.config = config
        self.entries = []
        self.count = 0
        self.rng = random.Random(self.config.seed)

    def record(self, entry: _Entry, entries: list[_Entry]) -> None:
        """Log a finished request in the log that was current when it arrived (a request still
        running across a reset does not leak into the next log)."""
        entries.append(entry)
        if self.log_file is not None:
            self.log_file.write(entry.to_log().model_dump_json() + "\n")
            self.log_file.flush()

    def close(self) -> None:
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None


def _plan(config: SimConfig, max_tokens: int | None) -> tuple[int, int, str]:
    """(reasoning tokens, answer tokens, finish reason) for a request."""
    budget = max_tokens if max_tokens is not None else None
    reasoning = config.reasoning_tokens if budget is None else min(config.reasoning_tokens, budget)
    left = None if budget is None else budget - reasoning
    wanted = config.output_tokens
    if wanted is None:
        wanted = left if left is not None else config.default_output_tokens
    answer = wanted if left is None else min(wanted, left)
    finish = "length" if left is not None and (left == 0 or answer == left) else "stop"
    if config.reasoning_tokens > reasoning:
        finish = "length"
    return reasoning, answer, finish


def _sizes(total: int, per_chunk: int) -> list[int]:
    full, rest = divmod(total, per_chunk)
    return [per_chunk] * full + ([rest] if rest else [])


def _token_plan(config: SimConfig, reasoning: int, answer: int) -> list[tuple[str, int]]:
    """Token chunks in order: ("reasoning" | "hidden" | "answer", tokens)."""
    kind = "hidden" if config.reasoning_field == "hidden" else "reasoning"
    k = config.tokens_per_chunk
    return [(kind, s) for s in _sizes(reasoning, k)] + [("answer", s) for s in _sizes(answer, k)]


def _usage(config: SimConfig, body: dict[str, Any], reasoning: int, answer: int) -> dict[str, Any]:
    chars = sum(len(str(m.get("content", ""))) for m in body["messages"] if isinstance(m, dict))
    completion = round((reasoning + answer) * config.usage_token_factor)
    prompt = -(-chars // 4)  # an estimate: the simulator does not tokenise prompts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "completion_tokens_details": {
            "reasoning_tokens": round(reasoning * config.usage_token_factor)
        },
        "prompt_tokens_details": {"cached_tokens": 0},
    }


class _Request:
    __slots__ = ("body", "headers", "keep_alive", "method", "path", "recv_loop", "recv_perf")

    def __init__(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        keep_alive: bool,
        recv_perf: float,
        recv_loop: float,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.recv_perf = recv_perf
        self.recv_loop = recv_loop


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Connection(asyncio.Protocol):
    """One client connection: parses requests in order and runs one response at a time."""

    def __init__(self, state: _SimState) -> None:
        self.state = state
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.busy = False
        self.closed = False
        self.first_perf: float | None = None
        self.first_loop = 0.0
        self.active: _Reply | None = None

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.first_perf is None:  # the first byte of a request: its receipt
            self.first_perf = _perf()
            self.first_loop = self.loop.time()
        self.buf += data
        if not self.busy:
            self._serve_buffered()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.active is not None:
            self.active.abort()

    # writing
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def finished(self, keep_alive: bool) -> None:
        """The current response is complete: go on with the next buffered request."""
        self.busy = False
        self.active = None
        if not keep_alive:
            self.close()
            return
        self._serve_buffered()

    # reading
    def _serve_buffered(self) -> None:
        while not self.busy and not self.closed and self.buf:
            if self.first_perf is None:  # a pipelined request already buffered
                self.first_perf = _perf()
                self.first_loop = self.loop.time()
            try:
                request = self._parse()
            except _BadRequest as exc:
                self.busy = True
                body = json.dumps({"error": {"message": str(exc)}}).encode()
                self.write(_head(exc.status, "application/json", len(body), close=True) + body)
                self.close()
                return
            if request is None:
                return
            self.first_perf = None
            self.busy = True
            _dispatch(self, request)

    def _parse(self) -> _Request | None:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > _MAX_HEAD:
                raise _BadRequest(431, "request headers are too large")
            return None
        try:
            lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ")
        except ValueError:
            raise _BadRequest(400, "malformed HTTP request line") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest(400, f"malformed HTTP header line {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _BadRequest(411, "chunked request bodies are not supported; send Content-Length")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise _BadRequest(400, "Content-Length is not a number") from None
        if length < 0 or length > _MAX_BODY:
            raise _BadRequest(413, f"Content-Length {length} is out of range")
        start = end + 4
        if len(buf) < start + length:
            return None
        body = bytes(buf[start : start + length])
        del buf[: start + length]
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection
        assert self.first_perf is not None
        path = target.split("?", 1)[0]
        return _Request(method, path, headers, body, keep_alive, self.first_perf, self.first_loop)


def _head(
    status: int,
    content_type: str,
    length: int | None,
    *,
    close: bool = False,
    extra: dict[str, str] | None = None,
) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"Content-Type: {content_type}"]
    if length is None:
        lines += ["Transfer-Encoding: chunked", "Cache-Control: no-cache"]
    else:
        lines.append(f"Content-Length: {length}")
    if close:
        lines.append("Connection: close")
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _respond_json(
    conn: _Connection,
    request: _Request,
    obj: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> None:
    body = raw if raw is not None else json.dumps(obj).encode()
    close = not request.keep_alive
    conn.write(_head(status, "application/json", len(body), close=close, extra=headers) + body)
    conn.finished(request.keep_alive)


def _error(conn: _Connection, request: _Request, status: int, message: str) -> None:
    _respond_json(conn, request, {"error": {"message": message}}, status)


def _dispatch(conn: _Connection, request: _Request) -> None:
    state = conn.state
    route = (request.method, request.path)
    if route == ("POST", "/v1/chat/completions"):
        _chat(conn, request)
    elif route == ("GET", "/v1/models"):
        model = state.config.model
        entry = {"id": model, "object": "model", "created": 0, "owned_by": "modelatlas-sim"}
        _respond_json(conn, request, {"object": "list", "data": [entry]})
    elif route == ("GET", "/health"):
        _respond_json(conn, request, {"status": "ok"})
    elif route == ("GET", "/sim/log"):
        text = "[" + ",".join(e.to_log().model_dump_json() for e in state.entries) + "]"
        _respond_json(conn, request, None, raw=text.encode())
    elif route == ("POST", "/sim/reset"):
        state.reset()
        _respond_json(conn, request, {"status": "ok"})
    elif route == ("GET", "/sim/config"):
        _respond_json(conn, request, state.config.model_dump(mode="json"))
    elif route == ("POST", "/sim/config"):
        try:
            config = SimConfig.model_validate_json(request.body)
        except ValueError as exc:
            _error(conn, request, 400, str(exc))
            return
        state.reset(config)
        _respond_json(conn, request, config.model_dump(mode="json"))
    elif request.path in _ROUTES:
        _error(conn, request, 405, f"method {request.method} is not allowed on {request.path}")
    else:
        _error(conn, request, 404, f"no route {request.path}")


_ROUTES = {
    "/v1/chat/completions",
    "/v1/models",
    "/health",
    "/sim/log",
    "/sim/reset",
    "/sim/config",
}


def _chat(conn: _Connection, request: _Request) -> None:
    state = conn.state
    config = state.config
    received_at = dt.datetime.now(dt.UTC)
    try:
        body = json.loads(request.body)
    except ValueError:
        _error(conn, request, 400, "request body is not JSON")
        return
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        _error(conn, request, 400, "'messages' is required")
        return
    if config.api_key is not None:
        presented = request.headers.get("authorization", "").removeprefix("Bearer ")
        if presented != config.api_key:
            _error(conn, request, 401, f"Incorrect API key provided: {presented or '(none)'}")
            return
    if config.reject_stream_options and "stream_options" in body:
        _error(conn, request, 400, "Unrecognized request argument supplied: stream_options")
        return
    state.count += 1
    n = state.count
    stream = bool(body.get("stream", False))
    options = body.get("stream_options") or {}
    include_usage = bool(options.get("include_usage")) if isinstance(options, dict) else False
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    max_tokens = int(max_tokens) if isinstance(max_tokens, int | float) else None
    entry = _Entry(
        n,
        request.headers.get("x-request-id"),
        received_at,
        request.recv_perf,
        stream,
        include_usage,
        max_tokens,
    )
    fault = next((f for f in config.faults if f.fires(n, state.rng)), None)
    entry.fault = fault.kind if fault else None
    reply = _Reply(conn, request, state, config, entry, fault, body)
    conn.active = reply
    if fault is not None and fault.kind in (FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR):
        reply.error_fault(fault)
    elif stream:
        reply.start_stream()
    else:
        reply.start_complete()


class _Reply:
    """One chat completion being answered: timer callbacks write its chunks on schedule."""

    def __init__(
        self,
        conn: _Connection,
        request: _Request,
        state: _SimState,
        config: SimConfig,
        entry: _Entry,
        fault: Fault | None,
        body: dict[str, Any],
    ) -> None:
        self.conn = conn
        self.request = request
        self.state = state
        self.entries = state.entries
        self.config = config
        self.entry = entry
        self.fault = fault
        self.body = body
        self.reasoning, self.answer, self.finish_reason = _plan(config, entry.max_tokens)
        self.plan = _token_plan(config, self.reasoning, self.answer)
        self.handle: asyncio.TimerHandle | None = None
        self.done = False
        self.j = 0
        self.sent = 0
        self.previous = ""
        self.head = {
            "id": f"chatcmpl-sim-{entry.n}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": config.model,
        }
        self.cache: dict[tuple[str, int, bool], bytes] = {}

    # bookkeeping
    def _end(self, keep_alive: bool) -> None:
        if self.done:
            return
        self.done = True
        self.entry.end_s = _perf() - self.entry.recv_perf
        self.state.record(self.entry, self.entries)
        self.conn.finished(keep_alive)

    def abort(self) -> None:
        """The client went away before the response was complete."""
        if self.done:
            return
        if self.handle is not None:
            self.handle.cancel()
        self.entry.client_disconnected = True
        self._end(False)

    def _send(self, data: bytes, kind: str, answer: int = 0, reasoning: int = 0) -> None:
        t = _perf()  # just before the bytes go to the socket: a lower bound on any arrival
        self.conn.write(data)
        self.entry.chunks.append((kind, t, answer, reasoning))

    def _drop(self) -> None:
        self.entry.status = 0
        self.done = True  # the close below is ours, not the client's
        self.entry.end_s = _perf() - self.entry.recv_perf
        self.state.record(self.entry, self.entries)
        self.conn.close()

    # error faults
    def error_fault(self, fault: Fault) -> None:
        headers: dict[str, str] = {}
        retry: float | None
        if fault.kind is FaultKind.RATE_LIMIT:
            status = fault.status or 429
            retry = fault.retry_after_s if fault.retry_after_s is not None else 1.0
        else:
            status = fault.status or 500
            retry = fault.retry_after_s
        if retry is not None:
            headers["Retry-After"] = str(int(retry)) if float(retry).is_integer() else str(retry)
        self.entry.status = status
        message = f"simulated {fault.kind.value} (HTTP {status})"
        body = json.dumps({"error": {"message": message, "type": fault.kind.value}}).encode()
        keep = self.request.keep_alive
        self.conn.write(
            _head(status, "application/json", len(body), close=not keep, extra=headers) + body
        )
        self._end(keep)

    # streaming
    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return _framed(_sse({**self.head, "choices": [choice]}))

    def _token_chunk(self, kind: str, size: int, first_of_kind: bool) -> bytes:
        key = (kind, size, first_of_kind)
        data = self.cache.get(key)
        if data is None:
            field = self.config.reasoning_field
            think = field == "think"
            if kind == "answer":
                text = ANSWER_WORD * size
                if think and first_of_kind and self.reasoning:
                    text = "</think>" + text
                data = self._chunk({"content": text})
            else:
                text = REASONING_WORD * size
                if think:
                    data = self._chunk({"content": ("<think>" if first_of_kind else "") + text})
                else:
                    data = self._chunk({field: text})
            self.cache[key] = data
        return data

    def start_stream(self) -> None:
        head = _head(200, "text/event-stream", None, close=not self.request.keep_alive)
        if self.config.role_chunk:
            self._send(head + self._chunk({"role": "assistant", "content": ""}), "role")
        else:
            self.conn.write(head)
        self._schedule()

    def _schedule(self) -> None:
        plan = self.plan
        while self.j < len(plan) and plan[self.j][0] == "hidden":
            self.previous = "hidden"
            self.j += 1
        if self.j >= len(plan):
            self._finish_stream()
            return
        config = self.config
        deadline = self.request.recv_loop + config.ttft_s + self.j * config.itl_s
        self.handle = self.conn.loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self.handle = None
        if self.done:
            return
        fault = self.fault
        if fault is not None and self.sent == fault.after_chunks:
            if fault.kind is FaultKind.DROP:
                self._drop()
                return
            if fault.kind is FaultKind.MALFORMED:
                self._send(_MALFORMED, "malformed")
        kind, size = self.plan[self.j]
        data = self._token_chunk(kind, size, kind != self.previous)
        self.previous = kind
        if kind == "answer":
            self._send(data, "token", answer=size)
        else:
            self._send(data, "token", reasoning=size)
        self.sent += 1
        self.j += 1
        self._schedule()

    def _finish_stream(self) -> None:
        self._send(self._chunk({}, self.finish_reason), "finish")
        if self.config.usage and self.entry.include_usage:
            usage = _usage(self.config, self.body, self.reasoning, self.answer)
            self._send(_framed(_sse({**self.head, "choices": [], "usage": usage})), "usage")
        self._send(_framed(b"data: [DONE]\n\n") + _LAST_CHUNK, "done")
        self._end(self.request.keep_alive)

    # not streaming
    def start_complete(self) -> None:
        config = self.config
        last = max(len(self.plan) - 1, 0)
        deadline = self.request.recv_loop + config.ttft_s + last * config.itl_s
        self.handle = self.conn.loop.call_at(deadline, self._complete)

    def _complete(self) -> None:
        self.handle = None
        if self.done:
            return
        config, fault = self.config, self.fault
        if fault is not None and fault.kind is FaultKind.DROP:
            self._drop()
            return
        reasoning, answer, finish = self.reasoning, self.answer, self.finish_reason
        message: dict[str, Any] = {"role": "assistant", "content": ANSWER_WORD * answer}
        if reasoning and config.reasoning_field == "think":
            message["content"] = "<think>" + REASONING_WORD * reasoning
            if answer or finish == "stop":
                message["content"] += "</think>" + ANSWER_WORD * answer
        elif reasoning and config.reasoning_field in ("reasoning_content", "reasoning"):
            message[config.reasoning_field] = REASONING_WORD * reasoning
        payload: dict[str, Any] = {
            "id": f"chatcmpl-sim-{self.entry.n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": config.model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
        }
        if config.usage:
            payload["usage"] = _usage(config, self.body, reasoning, answer)
        data = json.dumps(payload).encode()
        if fault is not None and fault.kind is FaultKind.MALFORMED:
            data = data[: len(data) // 2]
        keep = self.request.keep_alive
        visible_reasoning = 0 if config.reasoning_field == "hidden" else reasoning
        self._send(
            _head(200, "application/json", len(data), close=not keep) + data,
            "body",
            answer=answer,
            reasoning=visible_reasoning,
        )
        self._end(keep)


READY_PREFIX = "modelatlas-sim listening on "


class SimServer:
    """A running simulator on the current event loop (see :func:`start_server`)."""

    def __init__(self, server: asyncio.Server, state: _SimState, base_url: str) -> None:
        self.server = server
        self.state = state
        self.base_url = base_url

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()
        self.state.close()


async def start_server(
    config: SimConfig, host: str = "127.0.0.1", port: int = 0, log_path: Path | None = None
) -> SimServer:
    """Start the simulator on the running loop; ``log_path`` appends one JSON line per request."""
    state = _SimState(config, log_path)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(state), host, port, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    return SimServer(server, state, f"http://{host}:{bound}/v1")


async def _start_app(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, f"http://{host}:{bound}/v1"


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (the simulator must out-run the clients), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def serve(
    config: SimConfig, host: str = "127.0.0.1", port: int = 8765, log_path: Path | None = None
) -> None:
    """Run the simulator until interrupted; prints ``READY_PREFIX + base_url`` once listening."""

    async def main() -> None:
        server = await start_server(config, host, port, log_path)
        print(READY_PREFIX + server.base_url, flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=_new_loop) as runner:
        runner.run(main())


@contextlib.contextmanager
def running_sim(
    config: SimConfig | None = None,
    *,
    mode: Literal["subprocess", "thread"] = "subprocess",
    log_path: Path | None = None,
    startup_timeout_s: float = 30.0,
) -> Iterator[str]:
    """Run a simulator on 127.0.0.1 at a free port; yields its base URL (``http://.../v1``).

    ``subprocess`` (default) gives the server its own interpreter and event loop, so it does not
    disturb a client's timing; ``thread`` starts faster and suits functional tests.
    """
    config = config or SimConfig()
    if mode == "thread":
        with _sim_thread(config, log_path) as url:
            yield url
        return
    with _sim_subprocess(config, log_path, startup_timeout_s) as url:
        yield url


@contextlib.contextmanager
def _sim_subprocess(config: SimConfig, log_path: Path | None, timeout_s: float) -> Iterator[str]:
    args = [sys.executable, "-m", "modelatlas.endpoints.sim", "--port", "0"]
    args += ["--config-json", config.model_dump_json()]
    if log_path is not None:
        args += ["--log", str(log_path)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        url = _await_ready(proc, timeout_s)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _await_ready(proc: subprocess.Popen[str], timeout_s: float) -> str:
    assert proc.stdout is not None
    found: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(READY_PREFIX):
                found.append(line[len(READY_PREFIX) :].strip())
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not found:
        raise RuntimeError(f"the simulator did not start within {timeout_s}s (exit {proc.poll()})")
    return found[0]


@contextlib.contextmanager
def _sim_thread(config: SimConfig, log_path: Path | None) -> Iterator[str]:
    async def start() -> tuple[Callable[[], Awaitable[None]], str]:
        server = await start_server(config, "127.0.0.1", 0, log_path)
        return server.close, server.base_url

    with _in_thread(start, "modelatlas-sim") as url:
        yield url


@contextlib.contextmanager
def app_in_thread(app: web.Application, *, name: str = "modelatlas-sim") -> Iterator[str]:
    """Serve an aiohttp app on 127.0.0.1 at a free port from a thread with its own event loop;
    yields its base URL (``http://127.0.0.1:PORT/v1``). Tests use it for scripted servers."""

    async def start() -> tuple[Callable[[], Awaitable[None]], str]:
        runner, url = await _start_app(app, "127.0.0.1", 0)
        return runner.cleanup, url

    with _in_thread(start, name) as url:
        yield url


@contextlib.contextmanager
def _in_thread(
    start: Callable[[], Awaitable[tuple[Callable[[], Awaitable[None]], str]]], name: str
) -> Iterator[str]:
    """Run ``start()`` on a new event loop in a daemon thread; yield the URL it returns, then
    await the close function it returned and stop the loop."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    result: list[Any] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            result.append(loop.run_until_complete(start()))
        except BaseException as exc:
            result.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    started.wait()
    if isinstance(result[0], BaseException):
        raise result[0]
    close, url = result[0]
    try:
        yield url
    finally:
        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


# --- control helpers (blocking; for tests and calibration scripts) -----------------------------


def _control(base_url: str, path: str, data: bytes | None = None) -> Any:
    root = base_url.rstrip("/").removesuffix("/v1")
    req = urllib.request.Request(
        root + path, data=data, method="POST" if data is not None else "GET"
    )
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def fetch_log(base_url: str) -> list[SimRequestLog]:
    """The simulator's request log (``GET /sim/log``)."""
    return [SimRequestLog.model_validate(e) for e in _control(base_url, "/sim/log")]


def reset(base_url: str) -> None:
    """Clear the log and the request counter (``POST /sim/reset``)."""
    _control(base_url, "/sim/reset", b"{}")


def configure(base_url: str, config: SimConfig) -> None:
    """Replace the configuration; also resets (``POST /sim/config``)."""
    _control(base_url, "/sim/config", config.model_dump_json().encode())


def main(argv: list[str] | None = None) -> None:
    """``python -m modelatlas.endpoints.sim --config-json '{...}' --port 0 [--log FILE]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--config-json", default="{}")
    parser.add_argument("--log", type=Path, default=None)
    args = parser.parse_args(argv)
    serve(SimConfig.model_validate_json(args.config_json), args.host, args.port, args.log)


if __name__ == "__main__":
    main()
