"""The load generator: sends planned requests in a load shape and measures each one.

Hot path: one event loop per process (uvloop when installed), the endpoint client's
:meth:`~modelatlas.endpoints.client.EndpointClient.chat_raw` (bytes stamped on arrival, nothing
parsed while the load runs) and no retries (a failure is a measured error). Parsing, token
counting and metrics happen after the last response has closed.

``processes > 1`` splits the work over that many client processes (closed loop: the
concurrency and the requests are dealt out round-robin; open loop: the arrival schedule is).
Every process starts at the same instant on the host's monotonic clock (``perf_counter`` is
``CLOCK_MONOTONIC`` on Linux, shared by processes), so their records merge into one run.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import multiprocessing as mp
import pickle
import queue as queue_mod
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from modelatlas.endpoints.client import (
    ClientOptions,
    EndpointClient,
    EndpointSpec,
    RawCall,
    Transport,
)
from modelatlas.endpoints.records import CallRecord
from modelatlas.perf.metrics import RequestMetrics, request_metrics
from modelatlas.perf.schedule import Load, arrival_offsets
from modelatlas.perf.workloads import PlannedRequest

T = TypeVar("T")
OnDone = Callable[[], None]


def _uvloop() -> Any:
    """The ``uvloop`` module, or None (an optional speed-up; imported by name for mypy)."""
    try:
        return importlib.import_module("uvloop")
    except ImportError:
        return None


def loop_name() -> str:
    """``uvloop`` when it is installed (and so used), else ``asyncio``."""
    return "asyncio" if _uvloop() is None else "uvloop"


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh event loop: uvloop's when available."""
    uvloop = _uvloop()
    factory: Callable[[], asyncio.AbstractEventLoop] | None = (
        None if uvloop is None else uvloop.new_event_loop
    )
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def perf_client_options(
    load: Load, *, timeout_s: float | None = None, transport: Transport = "wire"
) -> ClientOptions:
    """No retries (failures are measured), one pooled connection per stream, events kept, and
    the wire transport (:mod:`modelatlas.endpoints.wire`) unless ``transport`` says aiohttp."""
    limit = 0 if load.mode == "rate" else max(load.workers, 1)
    return ClientOptions(
        transport=transport,
        connection_limit=limit,
        max_attempts=1,
        keep_events=True,
        total_timeout_s=timeout_s,
        idle_timeout_s=min(timeout_s or 300.0, 300.0),
    )


@dataclass
class Sent:
    """One request as sent: its plan, its raw response and when it was due."""

    planned: PlannedRequest
    raw: RawCall | None
    """``None`` once parsed in another process."""
    scheduled_perf: float


async def _closed_loop(
    client: EndpointClient,
    items: Sequence[PlannedRequest],
    workers: int,
    start_at: float,
    on_done: OnDone | None,
    ramp_up_s: float = 0.0,
) -> list[Sent]:
    out: list[Sent] = []
    it: Iterator[PlannedRequest] = iter(items)
    perf = time.perf_counter

    async def worker(k: int) -> None:
        first = start_at + k * ramp_up_s / max(workers, 1)
        delay = first - perf()
        if delay > 0:
            await asyncio.sleep(delay)
        for item in it:
            due = max(perf(), first)
            raw = await client.chat_raw(item.request, request_id=uuid.uuid4().hex)
            out.append(Sent(item, raw, due))
            if on_done is not None:
                on_done()

    await asyncio.gather(*(worker(k) for k in range(max(workers, 1))))
    return out


async def _open_loop(
    client: EndpointClient,
    items: Sequence[tuple[PlannedRequest, float]],
    cap: int,
    start_at: float,
    on_done: OnDone | None,
) -> list[Sent]:
    out: list[Sent] = []
    perf = time.perf_counter
    slots = asyncio.Semaphore(cap) if cap > 0 else None

    async def one(item: PlannedRequest, due: float) -> None:
        if slots is not None:
            async with slots:
                raw = await client.chat_raw(item.request, request_id=uuid.uuid4().hex)
        else:
            raw = await client.chat_raw(item.request, request_id=uuid.uuid4().hex)
        out.append(Sent(item, raw, due))
        if on_done is not None:
            on_done()

    tasks: list[asyncio.Task[None]] = []
    for item, offset in items:
        due = start_at + offset
        delay = due - perf()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(item, due)))
    await asyncio.gather(*tasks)
    return out


async def drive(
    endpoint: EndpointSpec,
    items: Sequence[PlannedRequest],
    load: Load,
    *,
    offsets: Sequence[float] | None = None,
    start_at: float | None = None,
    options: ClientOptions | None = None,
    on_done: OnDone | None = None,
) -> list[Sent]:
    """Send ``items`` in ``load``'s shape from this event loop; return them unparsed.

    ``offsets`` (open loop) default to :func:`arrival_offsets` of the load; ``start_at`` is the
    start instant on the ``perf_counter`` clock (default: now).
    """
    options = options or perf_client_options(load)
    async with EndpointClient(endpoint, options) as client:
        start = time.perf_counter() if start_at is None else start_at
        if load.mode == "rate":
            assert load.rate is not None
            if offsets is None:
                offsets = arrival_offsets(len(items), load.rate, load.arrival, load.seed)
            pairs = list(zip(items, offsets, strict=True))
            return await _open_loop(client, pairs, load.concurrency, start, on_done)
        return await _closed_loop(client, items, load.workers, start, on_done, load.ramp_up_s)


def _record(sent: Sent) -> CallRecord:
    assert sent.raw is not None
    # The prompt's o200k length is known exactly: skip recounting long prompts.
    sent.raw.prompt_tokens = sent.planned.input_tokens_o200k
    return sent.raw.record()


@dataclass
class LoadResult:
    """The measured requests of one load, in send order."""

    requests: list[RequestMetrics]
    records: list[CallRecord]
    load: Load
    started_at: dt.datetime
    duration_s: float
    processes: int = 1
    loop: str = field(default_factory=loop_name)


def _metrics(sent: Sent, record: CallRecord, load: Load, process: int) -> RequestMetrics:
    p = sent.planned
    return request_metrics(
        record,
        index=p.index,
        scheduled_perf=sent.scheduled_perf,
        requested_output_tokens=p.requested_output_tokens,
        label=p.label,
        warmup=p.warmup,
        level=load.level,
        process=process,
    )


def _split(
    items: Sequence[PlannedRequest], offsets: Sequence[float] | None, load: Load, n: int
) -> list[tuple[list[PlannedRequest], list[float] | None, Load]]:
    parts: list[tuple[list[PlannedRequest], list[float] | None, Load]] = []
    for p in range(n):
        mine = list(items[p::n])
        if load.mode == "rate":
            assert offsets is not None
            parts.append((mine, list(offsets[p::n]), load))
        else:
            workers = load.workers // n + (1 if p < load.workers % n else 0)
            part = Load("concurrency", max(workers, 1), seed=load.seed, ramp_up_s=load.ramp_up_s)
            parts.append((mine, None, part))
    return [part for part in parts if part[0]]


def run_load(
    endpoint: EndpointSpec,
    items: Sequence[PlannedRequest],
    load: Load,
    *,
    processes: int = 1,
    timeout_s: float | None = None,
    on_done: OnDone | None = None,
    transport: Transport = "wire",
) -> LoadResult:
    """Send ``items`` in ``load``'s shape, from ``processes`` client processes; measure them."""
    started_at = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    options = perf_client_options(load, timeout_s=timeout_s, transport=transport)
    offsets = None
    if load.mode == "rate":
        assert load.rate is not None
        offsets = arrival_offsets(len(items), load.rate, load.arrival, load.seed)
    processes = max(1, min(processes, load.workers if load.mode != "rate" else len(items)))
    if load.mode == "sequential":
        processes = 1
    if processes == 1:
        sent = run_async(
            drive(endpoint, items, load, offsets=offsets, options=options, on_done=on_done)
        )
        pairs = [(s, _record(s), 0) for s in sent]
    else:
        pairs = _run_processes(endpoint, _split(items, offsets, load, processes), options, on_done)
    pairs.sort(key=lambda x: x[1].send_perf)
    return LoadResult(
        requests=[_metrics(s, rec, load, proc) for s, rec, proc in pairs],
        records=[rec for _, rec, _ in pairs],
        load=load,
        started_at=started_at,
        duration_s=time.perf_counter() - t0,
        processes=processes,
    )


# --- several client processes ---------------------------------------------------------------


def _child(
    index: int,
    endpoint: EndpointSpec,
    part: tuple[list[PlannedRequest], list[float] | None, Load],
    options: ClientOptions,
    ready: Any,
    go: Any,
    start_at: Any,
    done: Any,
    results: Any,
) -> None:
    items, offsets, load = part
    try:
        ready.put(index)
        go.wait()

        def tick() -> None:
            with done.get_lock():
                done.value += 1

        sent = run_async(
            drive(
                endpoint,
                items,
                load,
                offsets=offsets,
                start_at=start_at.value,
                options=options,
                on_done=tick,
            )
        )
        # Parse here, in parallel with the other processes; ship records, not raw bytes.
        out = [(s.planned.index, s.scheduled_perf, _record(s)) for s in sent]
        results.put((index, pickle.dumps(out), None))
    except BaseException as exc:  # report to the parent rather than die silently
        results.put((index, None, f"{type(exc).__name__}: {exc}"))


def _run_processes(
    endpoint: EndpointSpec,
    parts: list[tuple[list[PlannedRequest], list[float] | None, Load]],
    options: ClientOptions,
    on_done: OnDone | None,
) -> list[tuple[Sent, CallRecord, int]]:
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    done = ctx.Value("i", 0)
    procs = [
        ctx.Process(
            target=_child,
            args=(i, endpoint, part, options, ready, go, start_at, done, results),
            daemon=True,
        )
        for i, part in enumerate(parts)
    ]
    for proc in procs:
        proc.start()
    by_index = {p.index: p for part in parts for p in part[0]}
    collected: list[tuple[Sent, CallRecord, int]] = []
    try:
        for _ in procs:
            ready.get(timeout=120)
        start_at.value = time.perf_counter() + 0.05
        go.set()
        pending = len(procs)
        reported = 0
        while pending:
            try:
                proc_index, payload, error = results.get(timeout=0.2)
            except queue_mod.Empty as empty:
                if on_done is not None:
                    while reported < done.value:
                        reported += 1
                        on_done()
                if not any(p.is_alive() for p in procs) and results.empty():
                    raise RuntimeError("a perf client process died without reporting") from empty
                continue
            pending -= 1
            if error is not None:
                raise RuntimeError(f"perf client process {proc_index} failed: {error}")
            for req_index, scheduled, record in pickle.loads(payload):
                collected.append((Sent(by_index[req_index], None, scheduled), record, proc_index))
        if on_done is not None:
            while reported < done.value:
                reported += 1
                on_done()
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                with contextlib.suppress(Exception):
                    proc.join(timeout=5)
    return collected
