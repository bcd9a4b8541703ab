"""One async client for OpenAI-compatible ``/chat/completions``, used by evals and perf.

Hot path: the response body is read with ``readany()`` and every read is stamped with
``time.perf_counter()`` the moment it returns; SSE framing, JSON, reasoning split and o200k
counting all happen after the response has closed (:func:`build_record`). One
``aiohttp.ClientSession`` with a ``TCPConnector(limit=connection_limit)`` pools connections.

Two entry points: :meth:`EndpointClient.chat` parses each response as it closes (on one parser
thread, so the loop keeps stamping other streams) and returns a :class:`CallRecord`;
:meth:`EndpointClient.chat_raw` returns the unparsed :class:`RawCall` so that a load generator
can parse everything after the run (``raw.record()``), keeping the loop free for I/O.

Retries: kinds in ``ClientOptions.retry_on`` are retried up to ``max_attempts`` requests in all,
sleeping ``uniform(0, min(backoff_max_s, backoff_base_s * 2**(n-1)))`` after failure ``n`` (full
jitter), or the server's Retry-After when it is longer (capped at ``max_retry_after_s``).
``connect_failed`` is retried only once the endpoint has answered this client before: an
endpoint that is down from the start fails fast (``record.raise_for_error()`` names the URL).
A 400 whose body mentions ``stream_options`` makes the client resend once without it and
remember that for the endpoint; that extra request counts in ``attempts`` but not against
``max_attempts``.

API keys are read from the environment variable named by ``EndpointSpec.api_key_env``; the key is
held in a private attribute, sent only in the ``api_key_header`` header, never logged, and
scrubbed from any error text.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email.utils
import json
import logging
import mimetypes
import os
import random
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp
from pydantic import BaseModel, Field

from modelatlas.endpoints.reasoning import split_channels
from modelatlas.endpoints.records import (
    CallError,
    CallRecord,
    ErrorKind,
    ServerUsage,
    StreamEvent,
)
from modelatlas.endpoints.tokens import count_tokens
from modelatlas.endpoints.wire import WireConnectError, WirePool, WireResponse
from modelatlas.errors import UserError

log = logging.getLogger(__name__)

Transport = Literal["aiohttp", "wire"]
"""The HTTP client under :class:`EndpointClient` (see :attr:`ClientOptions.transport`)."""

Message = dict[str, Any]
"""An OpenAI chat message: ``{"role": ..., "content": str | list[content part]}``."""

_SNIPPET = 500
_BIG_TEXT = 20_000
DEFAULT_RETRY_ON = frozenset(
    {
        ErrorKind.RATE_LIMITED,
        ErrorKind.SERVER_ERROR,
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION_DROPPED,
    }
)


class EndpointSpec(BaseModel):
    """Where to send requests: ``base_url`` ends before ``/chat/completions`` (e.g. ``.../v1``)."""

    base_url: str
    model: str
    api_key_env: str | None = None
    """Name of the environment variable holding the API key; ``None`` sends no key."""
    api_key_header: str = "Authorization"
    """``Authorization`` sends ``Bearer <key>``; any other name (``api-key``) sends the bare key."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra HTTP headers (not secrets: they are persisted with the spec)."""


class ClientOptions(BaseModel):
    """Connection pool, timeouts and retry policy."""

    connection_limit: int = 256
    connect_timeout_s: float = 10.0
    idle_timeout_s: float = 300.0
    """Longest wait for the next bytes (response headers included)."""
    total_timeout_s: float | None = 3600.0
    max_attempts: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    max_retry_after_s: float = 300.0
    retry_on: frozenset[ErrorKind] = DEFAULT_RETRY_ON
    keep_events: bool = True
    """Keep per-event arrivals in the record (perf needs them; evals may drop them)."""
    seed: int | None = None
    """Seed for the backoff jitter (tests)."""
    transport: Transport = "aiohttp"
    """``wire`` sends :meth:`EndpointClient.chat_raw` calls on the minimal HTTP/1.1 transport
    of :mod:`modelatlas.endpoints.wire` (bytes stamped in the protocol callback; perf's default);
    ``aiohttp`` on the general client. :meth:`EndpointClient.chat` always uses aiohttp."""


class ChatRequest(BaseModel):
    """One chat completion's inputs; every field that changes the output is here (cache keys)."""

    messages: list[Message]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = True
    include_usage: bool = True
    """Send ``stream_options: {include_usage: true}`` when streaming."""
    extra_body: dict[str, Any] = Field(default_factory=dict)
    """Merged last into the JSON body (e.g. ``{"ignore_eos": true}``)."""


# --- messages with images ---------------------------------------------------------------------

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def _sniff_mime(data: bytes) -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_part(
    image: bytes | Path | str, *, mime: str | None = None, detail: str | None = None
) -> Message:
    """An ``image_url`` content part holding the image as a base64 ``data:`` URL.

    ``image`` is raw bytes or a file path; the MIME type is sniffed from the bytes, else guessed
    from the file name, unless given.
    """
    if isinstance(image, bytes):
        data, name = image, None
    else:
        path = Path(image)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UserError(f"Cannot read the image file {path}: {exc.strerror}.") from exc
        name = path.name
    mime = mime or _sniff_mime(data) or (mimetypes.guess_type(name)[0] if name else None)
    if mime is None or not mime.startswith("image/"):
        raise UserError(f"Cannot tell the image type of {name or 'the given bytes'}; pass mime=.")
    url: dict[str, str] = {"url": f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"}
    if detail is not None:
        url["detail"] = detail
    return {"type": "image_url", "image_url": url}


def user_message(text: str, images: Sequence[bytes | Path | str] = ()) -> Message:
    """A user message: plain text, or content parts (text first, then images) when images given."""
    if not images:
        return {"role": "user", "content": text}
    parts: list[Message] = [{"type": "text", "text": text}]
    parts.extend(image_part(image) for image in images)
    return {"role": "user", "content": parts}


def prompt_text(messages: Sequence[Message]) -> str:
    """The text parts of all messages joined by newlines (what ``prompt_tokens_o200k`` counts)."""
    texts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(
                str(part.get("text", ""))
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            )
    return "\n".join(texts)


# --- response parsing (after the response closed) ---------------------------------------------


class _Malformed(Exception):
    pass


def _split_sse(times: list[float], chunks: list[bytes]) -> tuple[list[tuple[float, bytes]], bytes]:
    """SSE events (time, data payload) and the unterminated rest; see :func:`_event_data`."""
    events: list[tuple[float, bytes]] = []
    pending = b""
    for t, chunk in zip(times, chunks, strict=True):
        pending += chunk
        if b"\r" in pending:
            # Hold a trailing CR: it may be the first half of a CRLF split across reads.
            hold = pending.endswith(b"\r")
            body = pending[:-1] if hold else pending
            pending = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + (b"\r" if hold else b"")
        if b"\n\n" not in pending:
            continue
        parts = pending.split(b"\n\n")
        pending = parts.pop()
        events.extend((t, part) for part in parts if part.strip())
    return events, pending


def _event_data(raw: bytes) -> bytes | None:
    """The joined ``data:`` lines of one SSE event; ``None`` for comment/keep-alive events."""
    data: list[bytes] = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
        elif line and not line.startswith((b":", b"event:", b"id:", b"retry:")):
            raise _Malformed(f"unexpected SSE line {line[:80]!r}")
    return b"\n".join(data) if data else None


def _usage(obj: Any) -> ServerUsage | None:
    if not isinstance(obj, dict):
        return None
    completion = obj.get("completion_tokens_details") or {}
    prompt = obj.get("prompt_tokens_details") or {}
    return ServerUsage(
        prompt_tokens=obj.get("prompt_tokens"),
        completion_tokens=obj.get("completion_tokens"),
        reasoning_tokens=completion.get("reasoning_tokens")
        if isinstance(completion, dict)
        else None,
        cached_tokens=prompt.get("cached_tokens") if isinstance(prompt, dict) else None,
    )


class _Parsed:
    """Per-event channel texts, finish reason and usage pulled out of the JSON payloads."""

    __slots__ = ("contents", "done", "field_name", "finish_reason", "reasoning", "times", "usage")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.contents: list[str] = []
        self.reasoning: list[str] = []
        self.field_name: str | None = None
        self.finish_reason: str | None = None
        self.usage: ServerUsage | None = None
        self.done = False

    def add(self, t: float, obj: Any, *, message_key: str) -> None:
        if not isinstance(obj, dict):
            raise _Malformed("a JSON payload is not an object")
        if "error" in obj and not obj.get("choices"):
            raise _StreamError(obj["error"])
        content, reasoning = "", ""
        choices = obj.get("choices")
        if choices:
            choice = choices[0]
            if not isinstance(choice, dict):
                raise _Malformed("a choice is not an object")
            delta = choice.get(message_key) or {}
            content = delta.get("content") or ""
            for name in ("reasoning_content", "reasoning"):
                value = delta.get(name)
                if isinstance(value, str) and value:
                    reasoning = value
                    self.field_name = name
                    break
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        elif choices is None and obj.get("usage") is None:
            raise _Malformed("a JSON payload has neither choices nor usage")
        if obj.get("usage") is not None:
            self.usage = _usage(obj["usage"])
        if not isinstance(content, str):
            raise _Malformed("content is not a string")
        self.times.append(t)
        self.contents.append(content)
        self.reasoning.append(reasoning)


class _StreamError(Exception):
    def __init__(self, error: Any) -> None:
        super().__init__(
            error.get("message", str(error)) if isinstance(error, dict) else str(error)
        )


def _parse_body(
    stream: bool, times: list[float], chunks: list[bytes], end: float
) -> tuple[_Parsed, CallError | None]:
    parsed = _Parsed()
    try:
        if not stream:
            parsed.add(end, json.loads(b"".join(chunks)), message_key="message")
            parsed.done = True
            return parsed, None
        events, rest = _split_sse(times, chunks)
        if rest.strip():
            events.append((times[-1], rest))
        for t, raw in events:
            data = _event_data(raw)
            if data is None:
                continue
            if data.strip() == b"[DONE]":
                parsed.done = True
                continue
            parsed.add(t, json.loads(data), message_key="delta")
    except _StreamError as exc:
        return parsed, CallError(kind=ErrorKind.SERVER_ERROR, message=f"error in stream: {exc}")
    except (_Malformed, ValueError, AttributeError, TypeError) as exc:
        return parsed, CallError(kind=ErrorKind.MALFORMED_RESPONSE, message=str(exc)[:_SNIPPET])
    return parsed, None


def build_record(
    record: CallRecord,
    *,
    times: list[float],
    chunks: list[bytes],
    end_s: float,
    sse: bool,
    keep_events: bool = True,
) -> CallRecord:
    """Fill a record's tokens, texts and timings from the raw reads (offsets from send)."""
    record.end_s = end_s
    record.first_byte_s = times[0] if times else None
    parsed, error = _parse_body(sse, times, chunks, end_s)
    split = split_channels(parsed.contents, parsed.reasoning, parsed.field_name)
    events: list[StreamEvent] = []
    for t, text in zip(parsed.times, split.events, strict=True):
        event = StreamEvent(
            t_s=t,
            answer_tokens=count_tokens(text.answer),
            reasoning_tokens=count_tokens(text.reasoning),
        )
        events.append(event)
        if text.answer or text.reasoning:
            if record.first_token_s is None:
                record.first_token_s = t
            if text.answer and record.first_answer_s is None:
                record.first_answer_s = t
            record.last_token_s = t
    record.events = events if keep_events else [e for e in events if e.tokens]
    record.answer = split.answer
    record.reasoning = split.reasoning
    record.reasoning_source = split.source
    record.think_unclosed = split.think_unclosed
    record.finish_reason = parsed.finish_reason
    record.usage = parsed.usage
    record.answer_tokens_o200k = count_tokens(split.answer)
    record.reasoning_tokens_o200k = count_tokens(split.reasoning)
    if error is None and sse and not parsed.done:
        error = CallError(
            kind=ErrorKind.CONNECTION_DROPPED, message="the stream ended without data: [DONE]"
        )
    if error is None and sse and parsed.finish_reason is None and record.first_token_s is None:
        # e.g. llama-cpp-python's server ending a running stream when another request arrives
        error = CallError(
            kind=ErrorKind.CONNECTION_DROPPED,
            message="the stream ended with no token and no finish_reason (cut short by the server)",
        )
    record.error = error
    return record


# --- errors -----------------------------------------------------------------------------------


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(float(value) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - dt.datetime.now(dt.UTC)).total_seconds(), 0.0)


def _body_message(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    try:
        obj = json.loads(text)
    except ValueError:
        return text.strip()[:_SNIPPET]
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])[:_SNIPPET]
        if isinstance(err, str):
            return err[:_SNIPPET]
    return text.strip()[:_SNIPPET]


def http_error(status: int, headers: Mapping[str, str], body: bytes) -> CallError:
    """Classify a non-200 response."""
    message = _body_message(body)
    snippet = body[:_SNIPPET].decode("utf-8", "replace")
    if status == 429:
        return CallError(
            kind=ErrorKind.RATE_LIMITED,
            status=status,
            retry_after_s=parse_retry_after(headers),
            message=f"HTTP 429: {message}",
            body_snippet=snippet,
        )
    kind = ErrorKind.SERVER_ERROR if status >= 500 else ErrorKind.CLIENT_ERROR
    return CallError(
        kind=kind,
        status=status,
        retry_after_s=parse_retry_after(headers),
        message=f"HTTP {status}: {message}",
        body_snippet=snippet,
    )


def exception_error(exc: BaseException, *, received: bool) -> CallError:
    """Classify an exception raised while connecting or reading."""
    if isinstance(exc, TimeoutError):
        what = "idle or total" if received else "connect, idle or total"
        return CallError(kind=ErrorKind.TIMEOUT, message=f"timed out ({what} timeout)")
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(os_error, socket.gaierror):
            reason = f"the host name {exc.host} could not be resolved"
        else:
            reason = os_error.strerror or type(os_error).__name__
        return CallError(kind=ErrorKind.CONNECT_FAILED, message=reason)
    if isinstance(
        exc, aiohttp.ClientPayloadError | aiohttp.ClientConnectionError | ConnectionError
    ):
        return CallError(
            kind=ErrorKind.CONNECTION_DROPPED, message=f"connection broke: {type(exc).__name__}"
        )
    return CallError(
        kind=ErrorKind.MALFORMED_RESPONSE, message=f"{type(exc).__name__}: {exc}"[:_SNIPPET]
    )


def _mentions_stream_options(error: CallError) -> bool:
    text = f"{error.message} {error.body_snippet or ''}".lower()
    return error.status == 400 and ("stream_options" in text or "include_usage" in text)


# --- the client -------------------------------------------------------------------------------


class EndpointClient:
    """Async client for one endpoint. Use as ``async with EndpointClient(spec) as client:``.

    Raises :class:`~modelatlas.errors.UserError` at construction when ``spec.api_key_env`` names
    an unset variable.
    """

    def __init__(self, endpoint: EndpointSpec, options: ClientOptions | None = None) -> None:
        self.endpoint = endpoint
        self.options = options or ClientOptions()
        self.stream_options_rejected = False
        """This endpoint answered 400 to ``stream_options``; it is no longer sent."""
        self.reached = False
        """The endpoint has sent this client at least one HTTP response."""
        self._api_key = _read_key(endpoint.api_key_env, endpoint.base_url)
        self._url = endpoint.base_url.rstrip("/") + "/chat/completions"
        self._session: aiohttp.ClientSession | None = None
        self._wire: WirePool | None = None
        self._parser: ThreadPoolExecutor | None = None
        self._rng = random.Random(self.options.seed)
        self._timeout = aiohttp.ClientTimeout(
            total=self.options.total_timeout_s,
            sock_connect=self.options.connect_timeout_s,
            sock_read=self.options.idle_timeout_s,
        )
        headers = {"Content-Type": "application/json", **endpoint.headers}
        if self._api_key:
            name = endpoint.api_key_header
            headers[name] = f"Bearer {self._api_key}" if name == "Authorization" else self._api_key
        self._headers = headers

    def __repr__(self) -> str:
        return f"EndpointClient(base_url={self.endpoint.base_url!r}, model={self.endpoint.model!r})"

    async def __aenter__(self) -> Self:
        self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def open(self) -> aiohttp.ClientSession:
        """Create the pooled session (inside a running event loop); idempotent."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.options.connection_limit, limit_per_host=0, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._wire is not None:
            await self._wire.close()
            self._wire = None
        if self._parser is not None:
            self._parser.shutdown(wait=False)
            self._parser = None

    def body(self, request: ChatRequest, *, include_usage: bool | None = None) -> dict[str, Any]:
        """The JSON body sent for ``request``."""
        body: dict[str, Any] = {
            "model": self.endpoint.model,
            "messages": request.messages,
            "stream": request.stream,
        }
        for name in ("max_tokens", "temperature", "top_p", "seed", "stop"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        if include_usage is None:
            include_usage = request.include_usage and not self.stream_options_rejected
        if request.stream and include_usage:
            body["stream_options"] = {"include_usage": True}
        body.update(request.extra_body)
        return body

    async def chat(self, request: ChatRequest, *, request_id: str | None = None) -> CallRecord:
        """Send ``request``, retrying as configured. Endpoint failures do not raise: they are in
        ``record.error`` (``record.raise_for_error()`` turns them into a ``UserError``).

        Each attempt is parsed when it closes, so malformed bodies and in-stream errors are seen
        by the retry policy. Load generators should prefer :meth:`chat_raw`.
        """
        raw = await self._call(request, request_id or uuid.uuid4().hex, parse=True)
        text = prompt_text(request.messages)
        if len(text) > _BIG_TEXT:
            # tiktoken releases the GIL: keep the event loop free for other streams.
            raw.prompt_tokens = await asyncio.to_thread(count_tokens, text)
        await self._parse(raw)
        return raw.record()

    async def _parse(self, raw: RawCall) -> CallRecord:
        """Parse on the client's one parser thread: the event loop keeps stamping other streams'
        reads (it waits at most one GIL switch interval, not for a whole backlog of parses)."""
        if raw.is_parsed or not raw.chunks:
            return raw.parsed()
        if self._parser is None:
            self._parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelatlas-parse")
        return await asyncio.get_running_loop().run_in_executor(self._parser, raw.parsed)

    async def chat_raw(self, request: ChatRequest, *, request_id: str | None = None) -> RawCall:
        """Like :meth:`chat` but defer all parsing: returns bytes and arrival times.

        Call :meth:`RawCall.record` after the load has finished. Retry decisions use only the
        HTTP status, transport errors and whether the stream ended with ``[DONE]``.
        """
        return await self._call(request, request_id or uuid.uuid4().hex, parse=False)

    async def _call(self, request: ChatRequest, request_id: str, *, parse: bool) -> RawCall:
        errors: list[CallError] = []
        attempts = failures = 0
        waited = 0.0
        while True:
            attempts += 1
            body = json.dumps(self.body(request)).encode()
            raw = await self._attempt(request, body, request_id, parse=parse)
            error = (await self._parse(raw)).error if parse else raw.quick_error()
            if error is None:
                break
            if (
                request.stream
                and request.include_usage
                and not self.stream_options_rejected
                and _mentions_stream_options(error)
            ):
                log.info("%s rejects stream_options; resending without it", self._url)
                self.stream_options_rejected = True
                errors.append(error)
                continue
            failures += 1
            retryable = error.kind in self.options.retry_on or (
                error.kind is ErrorKind.CONNECT_FAILED and self.reached
            )
            if not retryable or failures >= self.options.max_attempts:
                break
            errors.append(error)
            delay = self._backoff(failures, error.retry_after_s)
            log.info(
                "%s: %s (attempt %d); retrying in %.2fs", self._url, error.kind, attempts, delay
            )
            await asyncio.sleep(delay)
            waited += delay
        raw.attempts = attempts
        raw.retry_wait_s = waited
        raw.attempt_errors = errors
        return raw

    def _backoff(self, failures: int, retry_after: float | None) -> float:
        """Full jitter ``uniform(0, min(max, base * 2**(failures-1)))``, at least Retry-After."""
        o = self.options
        delay = self._rng.uniform(0.0, min(o.backoff_max_s, o.backoff_base_s * 2 ** (failures - 1)))
        if retry_after is not None:
            delay = max(delay, min(retry_after, o.max_retry_after_s))
        return delay

    async def _attempt(
        self, request: ChatRequest, body: bytes, request_id: str, *, parse: bool
    ) -> RawCall:
        if self.options.transport == "wire" and not parse:
            return await self._attempt_wire(request, body, request_id)
        session = self.open()
        headers = {**self._headers, "X-Request-ID": request_id}
        raw = self._new_raw(request, request_id)
        times, chunks = raw.times, raw.chunks
        perf = time.perf_counter
        raw.send_perf = perf()
        # Hot loop: stamp each read as it returns; nothing else until the response closes.
        try:
            async with session.post(self._url, data=body, headers=headers) as resp:
                raw.headers_perf = perf()
                raw.status = resp.status
                self.reached = True
                if resp.status != 200:
                    raw.error = http_error(resp.status, resp.headers, await resp.read())
                else:
                    raw.sse = request.stream and "json" not in resp.headers.get("Content-Type", "")
                    read = resp.content.readany
                    while True:
                        data = await read()
                        if not data:
                            break
                        times.append(perf())
                        chunks.append(data)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raw.error = exception_error(exc, received=raw.headers_perf is not None)
        raw.end_perf = perf()
        return raw

    def _new_raw(self, request: ChatRequest, request_id: str) -> RawCall:
        """An empty :class:`RawCall` for one attempt, started now."""
        raw = RawCall(
            request_id=request_id,
            base_url=self.endpoint.base_url,
            model=self.endpoint.model,
            stream=request.stream,
            messages=request.messages,
            keep_events=self.options.keep_events,
            secret=self._api_key,
            times=[],
            chunks=[],
        )
        raw.started_at = dt.datetime.now(dt.UTC)
        return raw

    def _wire_pool(self) -> WirePool:
        if self._wire is None:
            o = self.options
            self._wire = WirePool(
                self._url,
                connect_timeout_s=o.connect_timeout_s,
                idle_timeout_s=o.idle_timeout_s,
                total_timeout_s=o.total_timeout_s,
            )
        return self._wire

    async def _attempt_wire(self, request: ChatRequest, body: bytes, request_id: str) -> RawCall:
        """:meth:`_attempt` on the wire transport: the same :class:`RawCall`, filled by the
        protocol callback (each body read stamped on arrival, no task wake-up per chunk)."""
        pool = self._wire_pool()
        data = pool.request_bytes(body, {**self._headers, "X-Request-ID": request_id})
        raw = self._new_raw(request, request_id)
        times, chunks = raw.times, raw.chunks
        response = WireResponse(times, chunks)
        raw.send_perf = time.perf_counter()
        try:
            await pool.post(data, response)
        except asyncio.CancelledError:
            raise
        except WireConnectError as exc:
            raw.error = CallError(kind=ErrorKind.CONNECT_FAILED, message=exc.reason)
        except Exception as exc:
            raw.error = exception_error(exc, received=response.headers_perf is not None)
        raw.headers_perf = response.headers_perf
        raw.end_perf = response.end_perf or time.perf_counter()
        if response.status:
            raw.status = response.status
            self.reached = True
            if response.status != 200 and raw.error is None:
                error_body = b"".join(chunks)
                times.clear()
                chunks.clear()
                raw.error = http_error(response.status, response.headers, error_body)
            elif raw.error is None:
                kind = response.headers.get("Content-Type", "")
                raw.sse = request.stream and "json" not in kind
        return raw


class RawCall:
    """One call's unparsed result: the bytes read and when each read returned.

    Produced by :meth:`EndpointClient.chat_raw`; :meth:`record` parses it into a
    :class:`CallRecord` (cached). Holds the API key only to scrub it from error text.
    """

    __slots__ = (
        "_parsed",
        "attempt_errors",
        "attempts",
        "base_url",
        "chunks",
        "end_perf",
        "error",
        "headers_perf",
        "keep_events",
        "messages",
        "model",
        "prompt_tokens",
        "request_id",
        "retry_wait_s",
        "secret",
        "send_perf",
        "sse",
        "started_at",
        "status",
        "stream",
        "times",
    )

    def __init__(
        self,
        *,
        request_id: str,
        base_url: str,
        model: str,
        stream: bool,
        messages: list[Message],
        keep_events: bool,
        secret: str | None,
        times: list[float],
        chunks: list[bytes],
    ) -> None:
        self.request_id = request_id
        self.base_url = base_url
        self.model = model
        self.stream = stream
        self.sse = stream
        self.messages = messages
        self.keep_events = keep_events
        self.secret = secret
        self.times = times
        """``time.perf_counter()`` when each read returned."""
        self.chunks = chunks
        self.started_at = dt.datetime.now(dt.UTC)
        self.send_perf = 0.0
        self.headers_perf: float | None = None
        self.end_perf = 0.0
        self.status: int | None = None
        self.error: CallError | None = None
        """A transport or HTTP error (parsing may find others)."""
        self.attempts = 1
        self.retry_wait_s = 0.0
        self.attempt_errors: list[CallError] = []
        self.prompt_tokens: int | None = None
        self._parsed: CallRecord | None = None

    def __repr__(self) -> str:
        return (
            f"RawCall(request_id={self.request_id!r}, status={self.status}, "
            f"bytes={sum(map(len, self.chunks))}, reads={len(self.chunks)})"
        )

    def quick_error(self) -> CallError | None:
        """The error visible without parsing: transport/HTTP errors, a stream without [DONE]."""
        if self.error is not None:
            return self.error
        if self.sse:
            tail = b"".join(self.chunks[-2:]).rstrip()
            if not tail.endswith(b"[DONE]"):
                return CallError(
                    kind=ErrorKind.CONNECTION_DROPPED,
                    message="the stream ended without data: [DONE]",
                )
        return None

    @property
    def is_parsed(self) -> bool:
        return self._parsed is not None

    def parsed(self) -> CallRecord:
        """This attempt parsed (cached); :meth:`record` adds attempts and the prompt count."""
        if self._parsed is None:
            self._parsed = self._build()
        return self._parsed

    def record(self) -> CallRecord:
        """Parse into a :class:`CallRecord` (SSE, JSON, channels, o200k counts)."""
        record = self.parsed()
        record.attempts = self.attempts
        record.retry_wait_s = self.retry_wait_s
        record.attempt_errors = [self._scrub(e) for e in self.attempt_errors]
        if self.prompt_tokens is None:
            self.prompt_tokens = count_tokens(prompt_text(self.messages))
        record.prompt_tokens_o200k = self.prompt_tokens
        return record

    def _scrub(self, error: CallError) -> CallError:
        return error if not self.secret else _scrub(error, self.secret)

    def _build(self) -> CallRecord:
        t0 = self.send_perf
        record = CallRecord(
            request_id=self.request_id,
            base_url=self.base_url,
            model=self.model,
            stream=self.stream,
            started_at=self.started_at,
            send_perf=t0,
            http_status=self.status,
            headers_s=None if self.headers_perf is None else self.headers_perf - t0,
            end_s=self.end_perf - t0,
        )
        if self.status == 200 or self.chunks:
            build_record(
                record,
                times=[t - t0 for t in self.times],
                chunks=self.chunks,
                end_s=self.end_perf - t0,
                sse=self.sse,
                keep_events=self.keep_events,
            )
        if self.error is not None:
            record.error = self.error
        if record.error is not None:
            record.error = self._scrub(record.error)
        return record


def _scrub(error: CallError, secret: str) -> CallError:
    def clean(text: str | None) -> str | None:
        return None if text is None else text.replace(secret, "***")

    return error.model_copy(
        update={"message": clean(error.message) or "", "body_snippet": clean(error.body_snippet)}
    )


def _read_key(env_name: str | None, base_url: str) -> str | None:
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise UserError(
            f"The environment variable {env_name} is not set; it should hold the API key for "
            f"{base_url}.",
            hint=f"Set it with: export {env_name}=...",
        )
    return value
