"""What one chat-completion call leaves behind: timings, tokens per channel, usage, errors.

A :class:`CallRecord` is persisted as-is (pydantic). Times are seconds from the moment the final
attempt's request was handed to the HTTP client (``send``), measured with ``time.perf_counter``;
``send_perf`` is that instant on the machine's monotonic clock, so records can be aligned with
other processes on the same host (Linux ``CLOCK_MONOTONIC``).

Derived figures follow ``docs/METHODOLOGY.md`` and are computed, never stored:

- ``ttft_s``: time to the first SSE event carrying any token (reasoning or answer).
- ``ttfat_s``: time to the first event carrying an answer token (equals ``ttft_s`` without
  reasoning); ``None`` when no answer came.
- ``output_tokens``: ``usage.completion_tokens`` when the server sent it, else the o200k count of
  answer + reasoning text.
- ``output_speed_tps``: tokens after the first token-carrying event divided by
  (last token-carrying event - first token-carrying event). Tokens, not events, are counted, and
  reasoning counts. The numerator is ``visible_output_tokens * (T - n1) / T`` where ``T`` is the
  sum of the o200k counts of all token-carrying events and ``n1`` that of the first one: the
  first event's share is removed in the units of whichever total is used (server usage when sent,
  else o200k). Without usage this is ``T - n1`` up to BPE merges across event boundaries.
- ``e2e_s``: time from send until the response was fully read.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, Field

from modelatlas.errors import UserError


class ErrorKind(StrEnum):
    """Why a call failed. Retried kinds are chosen in ``ClientOptions.retry_on``."""

    RATE_LIMITED = "rate_limited"
    """HTTP 429; ``retry_after_s`` holds the parsed Retry-After."""
    SERVER_ERROR = "server_error"
    """HTTP 5xx, or an ``error`` object sent inside a 200 stream (``status`` is then ``None``)."""
    CLIENT_ERROR = "client_error"
    """HTTP 4xx other than 429."""
    TIMEOUT = "timeout"
    """Connect, idle (between chunks) or total timeout."""
    CONNECTION_DROPPED = "connection_dropped"
    """The connection broke mid-response, a stream ended without ``data: [DONE]``, or it ended
    with no token and no ``finish_reason`` (the server cut it short)."""
    CONNECT_FAILED = "connect_failed"
    """No connection could be made (refused, unknown host, unreachable)."""
    MALFORMED_RESPONSE = "malformed_response"
    """Bad SSE framing, bad JSON, or JSON without the expected fields."""


class CallError(BaseModel):
    """One attempt's failure. Messages never contain the API key."""

    kind: ErrorKind
    message: str
    status: int | None = None
    retry_after_s: float | None = None
    body_snippet: str | None = None


class ServerUsage(BaseModel):
    """The server's ``usage`` object, flattened."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    """``completion_tokens_details.reasoning_tokens``"""
    cached_tokens: int | None = None
    """``prompt_tokens_details.cached_tokens``"""


class StreamEvent(BaseModel):
    """One SSE event (or the whole body when not streaming): arrival and o200k tokens carried."""

    t_s: float
    """Arrival, seconds from send: when the read that completed this event returned."""
    answer_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.answer_tokens + self.reasoning_tokens


class EndpointCallError(UserError):
    """A failed call, phrased for the command line (names the URL, never the key)."""

    def __init__(self, url: str, error: CallError) -> None:
        if error.kind is ErrorKind.CONNECT_FAILED:
            message = f"Cannot connect to {url}: {error.message}."
            hint: str | None = "Is the server running, and is the URL right?"
        else:
            message = f"The endpoint {url} failed ({error.kind.value}): {error.message}"
            hint = None
        super().__init__(message, hint=hint)
        self.url = url
        self.error = error


class CallRecord(BaseModel):
    """Everything measured about one chat-completion call (the final attempt's timings)."""

    request_id: str
    base_url: str
    model: str
    stream: bool
    started_at: dt.datetime
    """Wall clock (UTC) at send of the final attempt."""
    send_perf: float
    """``time.perf_counter()`` at send of the final attempt (host monotonic clock)."""
    attempts: int = 1
    """HTTP requests made for this call, including retries and a stream_options fallback."""
    retry_wait_s: float = 0.0
    """Total time slept between attempts."""
    http_status: int | None = None

    headers_s: float | None = None
    first_byte_s: float | None = None
    first_token_s: float | None = None
    first_answer_s: float | None = None
    last_token_s: float | None = None
    end_s: float | None = None
    events: list[StreamEvent] = Field(default_factory=list)

    answer: str = ""
    reasoning: str = ""
    reasoning_source: str | None = None
    """Where reasoning came from: ``reasoning_content``, ``reasoning``, ``think_tags``."""
    think_unclosed: bool = False
    """Inline ``<think>`` was never closed: everything was reasoning, there is no answer."""
    finish_reason: str | None = None

    usage: ServerUsage | None = None
    prompt_tokens_o200k: int = 0
    """o200k count of the prompt's text parts joined by newlines (no chat template, no images)."""
    answer_tokens_o200k: int = 0
    reasoning_tokens_o200k: int = 0

    error: CallError | None = None
    attempt_errors: list[CallError] = Field(default_factory=list)
    """Errors of the earlier attempts, in order."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    @property
    def has_answer(self) -> bool:
        """False when the answer is empty (e.g. the reasoning budget ran out)."""
        return bool(self.answer.strip())

    @property
    def ttft_s(self) -> float | None:
        """Seconds from send to the first event carrying any token (reasoning included)."""
        return self.first_token_s

    @property
    def ttfat_s(self) -> float | None:
        """Seconds from send to the first event carrying an answer (non-reasoning) token."""
        return self.first_answer_s

    @property
    def e2e_s(self) -> float | None:
        """Seconds from send until the response was fully read."""
        return self.end_s

    @property
    def output_tokens(self) -> int:
        """``usage.completion_tokens`` if sent, else o200k(answer) + o200k(reasoning)."""
        if self.usage is not None and self.usage.completion_tokens is not None:
            return self.usage.completion_tokens
        return self.answer_tokens_o200k + self.reasoning_tokens_o200k

    @property
    def reasoning_hidden(self) -> bool:
        """The server reported reasoning tokens but streamed no reasoning text."""
        u = self.usage
        return bool(u and u.reasoning_tokens) and not self.reasoning

    @property
    def visible_output_tokens(self) -> int:
        """``output_tokens`` minus reasoning tokens the server reported but did not stream."""
        n = self.output_tokens
        if self.reasoning_hidden and self.usage is not None and self.usage.reasoning_tokens:
            n -= self.usage.reasoning_tokens
        return max(n, 0)

    @property
    def output_speed_tps(self) -> float | None:
        """Tokens per second after the first token-carrying event (see the module docstring).

        ``visible_output_tokens * (T - n1) / T / (t_last - t_first)``; ``None`` with fewer than
        two token-carrying events or when they arrived at the same instant.
        """
        carrying = [e for e in self.events if e.tokens > 0]
        if len(carrying) < 2:
            return None
        duration = carrying[-1].t_s - carrying[0].t_s
        if duration <= 0:
            return None
        total = sum(e.tokens for e in carrying)
        after_first = self.visible_output_tokens * (total - carrying[0].tokens) / total
        return after_first / duration

    def raise_for_error(self) -> None:
        """Raise :class:`EndpointCallError` (a ``UserError``) if the call failed; for the CLI."""
        if self.error is not None:
            raise EndpointCallError(self.url, self.error)
