"""A simulated OpenAI-compatible endpoint with a known schedule, for tests and calibration.

Routes: ``POST /v1/chat/completions`` (streaming and not), ``GET /v1/models``, ``GET /health``,
and the control routes ``GET /sim/log``, ``POST /sim/reset``, ``GET|POST /sim/config``.

Schedule of one request received at ``r`` (all visible token chunks are equally spaced):
token chunk ``j`` (0-based, reasoning chunks first, then answer chunks; hidden reasoning chunks
take their slots without being sent) is sent at ``r + ttft_s + j * itl_s``. Sleeps target these
absolute deadlines on the loop clock, so lateness does not accumulate. With ``role_chunk`` a
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
from collections.abc import Iterator
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


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


class _SimState:
    def __init__(self, config: SimConfig, log_path: Path | None) -> None:
        self.config = config
        self.entries: list[SimRequestLog] = []
        self.count = 0
        self.rng = random.Random(config.seed)
        self.log_file: IO[str] | None = log_path.open("a", encoding="utf-8") if log_path else None

    def reset(self, config: SimConfig | None = None) -> None:
        if config is not None:
            self.config = config
        self.entries = []
        self.count = 0
        self.rng = random.Random(self.config.seed)

    def record(self, entry: SimRequestLog, entries: list[SimRequestLog]) -> None:
        """Log a finished request in the log that was current when it arrived (a request still
        running across a reset does not leak into the next log)."""
        entries.append(entry)
        if self.log_file is not None:
            self.log_file.write(entry.model_dump_json() + "\n")
            self.log_file.flush()


STATE: web.AppKey[_SimState] = web.AppKey("sim_state", _SimState)


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


async def _chat(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    entries = state.entries
    loop = asyncio.get_running_loop()
    recv_loop = loop.time()
    recv_perf = time.perf_counter()
    received_at = dt.datetime.now(dt.UTC)
    config = state.config
    try:
        body = await request.json()
    except ValueError:
        return web.json_response({"error": {"message": "request body is not JSON"}}, status=400)
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return web.json_response({"error": {"message": "'messages' is required"}}, status=400)
    if config.api_key is not None:
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if presented != config.api_key:
            message = f"Incorrect API key provided: {presented or '(none)'}"
            return web.json_response({"error": {"message": message}}, status=401)
    if config.reject_stream_options and "stream_options" in body:
        message = "Unrecognized request argument supplied: stream_options"
        return web.json_response({"error": {"message": message}}, status=400)
    state.count += 1
    n = state.count
    stream = bool(body.get("stream", False))
    options = body.get("stream_options") or {}
    include_usage = bool(options.get("include_usage")) if isinstance(options, dict) else False
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    max_tokens = int(max_tokens) if isinstance(max_tokens, int | float) else None
    entry = SimRequestLog(
        n=n,
        request_id=request.headers.get("X-Request-ID"),
        received_at=received_at,
        recv_perf=recv_perf,
        stream=stream,
        include_usage=include_usage,
        max_tokens=max_tokens,
    )
    fault = next((f for f in config.faults if f.fires(n, state.rng)), None)
    entry.fault = fault.kind if fault else None
    try:
        if fault is not None and fault.kind in (FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR):
            return _error_response(fault, entry)
        if stream:
            return await _stream(request, config, entry, fault, recv_loop, body)
        return await _complete(request, config, entry, fault, recv_loop, body)
    except ConnectionResetError:
        entry.client_disconnected = True
        return web.Response(status=499)
    finally:
        entry.end_s = time.perf_counter() - recv_perf
        state.record(entry, entries)


def _error_response(fault: Fault, entry: SimRequestLog) -> web.Response:
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
    entry.status = status
    message = f"simulated {fault.kind.value} (HTTP {status})"
    return web.json_response(
        {"error": {"message": message, "type": fault.kind.value}}, status=status, headers=headers
    )


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


def _token_plan(config: SimConfig, reasoning: int, answer: int) -> list[tuple[str, int]]:
    """Token chunks in order: ("reasoning" | "hidden" | "answer", tokens)."""
    kind = "hidden" if config.reasoning_field == "hidden" else "reasoning"
    k = config.tokens_per_chunk
    return [(kind, s) for s in _sizes(reasoning, k)] + [("answer", s) for s in _sizes(answer, k)]


async def _sleep_until(loop: asyncio.AbstractEventLoop, deadline: float) -> None:
    delay = deadline - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def _stream(
    request: web.Request,
    config: SimConfig,
    entry: SimRequestLog,
    fault: Fault | None,
    recv_loop: float,
    body: dict[str, Any],
) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    perf = time.perf_counter
    r0 = entry.recv_perf
    reasoning, answer, finish = _plan(config, entry.max_tokens)
    plan = _token_plan(config, reasoning, answer)
    created = int(time.time())
    head = {"id": f"chatcmpl-sim-{entry.n}", "object": "chat.completion.chunk", "created": created}
    head["model"] = config.model

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return _sse({**head, "choices": [choice]})

    field = config.reasoning_field
    think = field == "think"
    cache: dict[tuple[str, int, bool], bytes] = {}

    def token_chunk(kind: str, size: int, first_of_kind: bool) -> bytes:
        key = (kind, size, first_of_kind)
        if key not in cache:
            if kind == "answer":
                text = ANSWER_WORD * size
                if think and first_of_kind and reasoning:
                    text = "</think>" + text
                cache[key] = chunk({"content": text})
            else:
                text = REASONING_WORD * size
                if think:
                    cache[key] = chunk({"content": ("<think>" if first_of_kind else "") + text})
                else:
                    cache[key] = chunk({field: text})
        return cache[key]

    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await resp.prepare(request)
    log = entry.chunks.append

    async def send(
        data: bytes, kind: str, answer_tokens: int = 0, reasoning_tokens: int = 0
    ) -> None:
        t = perf()  # just before the bytes go to the socket: a lower bound on any arrival
        await resp.write(data)
        log(
            SimChunk.model_construct(  # no validation: this is the server's hot loop
                kind=kind,
                t_s=t - r0,
                perf=t,
                answer_tokens=answer_tokens,
                reasoning_tokens=reasoning_tokens,
            )
        )

    if config.role_chunk:
        await send(chunk({"role": "assistant", "content": ""}), "role")
    sent = 0
    previous = ""
    for j, (kind, size) in enumerate(plan):
        if kind == "hidden":
            previous = kind
            continue
        await _sleep_until(loop, recv_loop + config.ttft_s + j * config.itl_s)
        if fault is not None and sent == fault.after_chunks:
            if fault.kind is FaultKind.DROP:
                assert request.transport is not None
                request.transport.close()
                entry.status = 0
                return resp
            await send(b'data: {"choices": [{"delta": {"content": "oops"\n\n', "malformed")
        data = token_chunk(kind, size, kind != previous)
        previous = kind
        if kind == "answer":
            await send(data, "token", answer_tokens=size)
        else:
            await send(data, "token", reasoning_tokens=size)
        sent += 1
    await send(chunk({}, finish), "finish")
    if config.usage and entry.include_usage:
        await send(
            _sse({**head, "choices": [], "usage": _usage(config, body, reasoning, answer)}), "usage"
        )
    await send(b"data: [DONE]\n\n", "done")
    await resp.write_eof()
    return resp


async def _complete(
    request: web.Request,
    config: SimConfig,
    entry: SimRequestLog,
    fault: Fault | None,
    recv_loop: float,
    body: dict[str, Any],
) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    reasoning, answer, finish = _plan(config, entry.max_tokens)
    plan = _token_plan(config, reasoning, answer)
    await _sleep_until(loop, recv_loop + config.ttft_s + max(len(plan) - 1, 0) * config.itl_s)
    if fault is not None and fault.kind is FaultKind.DROP:
        assert request.transport is not None
        request.transport.close()
        entry.status = 0
        return web.Response()
    message: dict[str, Any] = {"role": "assistant", "content": ANSWER_WORD * answer}
    if reasoning and config.reasoning_field == "think":
        message["content"] = "<think>" + REASONING_WORD * reasoning
        if answer or finish == "stop":
            message["content"] += "</think>" + ANSWER_WORD * answer
    elif reasoning and config.reasoning_field in ("reasoning_content", "reasoning"):
        message[config.reasoning_field] = REASONING_WORD * reasoning
    payload: dict[str, Any] = {
        "id": f"chatcmpl-sim-{entry.n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": config.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
    }
    if config.usage:
        payload["usage"] = _usage(config, body, reasoning, answer)
    data = json.dumps(payload).encode()
    if fault is not None and fault.kind is FaultKind.MALFORMED:
        data = data[: len(data) // 2]
    resp = web.Response(body=data, content_type="application/json")
    t = time.perf_counter()
    await resp.prepare(request)
    await resp.write_eof()
    visible_reasoning = 0 if config.reasoning_field == "hidden" else reasoning
    entry.chunks.append(
        SimChunk(
            kind="body",
            t_s=t - entry.recv_perf,
            perf=t,
            answer_tokens=answer,
            reasoning_tokens=visible_reasoning,
        )
    )
    return resp


async def _models(request: web.Request) -> web.Response:
    model = request.app[STATE].config.model
    entry = {"id": model, "object": "model", "created": 0, "owned_by": "modelatlas-sim"}
    return web.json_response({"object": "list", "data": [entry]})


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _get_log(request: web.Request) -> web.Response:
    entries = request.app[STATE].entries
    return web.Response(
        text="[" + ",".join(e.model_dump_json() for e in entries) + "]",
        content_type="application/json",
    )


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"status": "ok"})


async def _get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].config.model_dump(mode="json"))


async def _set_config(request: web.Request) -> web.Response:
    """Replace the configuration and reset the log and request counter."""
    try:
        config = SimConfig.model_validate_json(await request.read())
    except ValueError as exc:
        return web.json_response({"error": {"message": str(exc)}}, status=400)
    request.app[STATE].reset(config)
    return web.json_response(config.model_dump(mode="json"))


def create_app(config: SimConfig, log_path: Path | None = None) -> web.Application:
    """The simulator as an aiohttp application; ``log_path`` appends one JSON line per request."""
    app = web.Application()
    state = _SimState(config, log_path)
    app[STATE] = state

    async def close_log(app: web.Application) -> None:
        if state.log_file is not None:
            state.log_file.close()

    app.on_cleanup.append(close_log)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/health", _health)
    app.router.add_get("/sim/log", _get_log)
    app.router.add_post("/sim/reset", _reset)
    app.router.add_get("/sim/config", _get_config)
    app.router.add_post("/sim/config", _set_config)
    return app


READY_PREFIX = "modelatlas-sim listening on "


async def _start(
    config: SimConfig, host: str, port: int, log_path: Path | None
) -> tuple[web.AppRunner, str]:
    return await _start_app(create_app(config, log_path), host, port)


async def _start_app(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, f"http://{host}:{bound}/v1"


def serve(
    config: SimConfig, host: str = "127.0.0.1", port: int = 8765, log_path: Path | None = None
) -> None:
    """Run the simulator until interrupted; prints ``READY_PREFIX + base_url`` once listening."""

    async def main() -> None:
        runner, base_url = await _start(config, host, port, log_path)
        print(READY_PREFIX + base_url, flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


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
    with app_in_thread(create_app(config, log_path)) as url:
        yield url


@contextlib.contextmanager
def app_in_thread(app: web.Application, *, name: str = "modelatlas-sim") -> Iterator[str]:
    """Serve an aiohttp app on 127.0.0.1 at a free port from a thread with its own event loop;
    yields its base URL (``http://127.0.0.1:PORT/v1``). Tests use it for scripted servers."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    result: list[Any] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            result.append(loop.run_until_complete(_start_app(app, "127.0.0.1", 0)))
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
    runner, url = result[0]
    try:
        yield url
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
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
