"""The eval runner: items -> prompts -> calls -> scores, stored one by one, cached, resumable.

One eval run is a ``RunRow(kind="eval")``; every (benchmark, item, repeat) becomes an
``EvalItemRow`` the moment its call has finished and been graded (one transaction with its
``CallRow`` and its cache entry), so an interrupted run keeps everything it finished:

- ``run_eval(..., resume_run_id=RUN)`` continues that run and only does what it lacks
  (units with a failed call are retried);
- a new run of the same settings makes no calls at all: every response comes from the cache
  (:mod:`modelatlas.evals.cache`), keyed on the full request and the repeat index.

Sampling follows the reference site's method unless overridden: temperature 0 for
non-reasoning models and 0.6 for reasoning models; max output 16,384 tokens for non-reasoning
models and the creator's maximum (catalog ``max_output``) for reasoning ones; then, per item,
``max_tokens`` is lowered so that the prompt (estimated conservatively from its o200k count)
plus ``max_tokens`` fits the served context window when it is known. Scores are pass@1
averaged over K repeats. Reasoning text is stored but never scored; a truncated, empty or
unfinished-reasoning answer is "no answer" (see :meth:`Benchmark.grade`), counted and reported.

Concurrency is bounded and adaptive: it starts at N, halves on HTTP 429 (at most once per
window of requests sent at the same limit) and grows back by one after each window of
successes without a 429. Rate-limited requests are retried by the runner (up to
``max_rate_limit_retries`` times, honouring Retry-After); other transient failures are retried
by the endpoint client (``max_attempts``).

An optional LLM equality judge (``EvalConfig.judge``, pinned: endpoint, model id, prompt
version, temperature 0) is asked only where exact / math-verify matching failed on a benchmark
that allows it (math: :func:`judge_allowed` and
:func:`~modelatlas.evals.scorers.math.needs_equality_check`). Its calls go through an
:class:`EndpointClient` of their own, are cached in the response cache under
:func:`~modelatlas.evals.cache.judge_key`, and are stored on the item (``EvalItemRow.judge``)
with their own tokens and cost, reported apart from the model's. It fails closed: an
unparseable verdict (or a judge call that failed) excludes the item, counted and reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import statistics
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modelatlas.endpoints.client import (
    DEFAULT_RETRY_ON,
    ChatRequest,
    ClientOptions,
    EndpointClient,
    EndpointSpec,
    prompt_text,
)
from modelatlas.endpoints.records import CallRecord, EndpointCallError, ErrorKind
from modelatlas.endpoints.tokens import count_tokens
from modelatlas.errors import NotFoundError, UserError
from modelatlas.evals import cache
from modelatlas.evals.core import Benchmark, Category, Item, ItemScore, summarize_extraction
from modelatlas.evals.cost import Cost, PriceSheet, TokenCounts, cost_from_json, cost_of, tokens_of
from modelatlas.evals.registry import get_benchmark
from modelatlas.evals.scorers.math import (
    EQUALITY_PROMPT_VERSION,
    JudgeSpec,
    apply_equality_verdict,
    equality_messages,
    needs_equality_check,
)
from modelatlas.store.base import Store, open_store
from modelatlas.store.calls import call_row, finish_run, start_run
from modelatlas.store.eval_tables import EvalItemRow
from modelatlas.store.run_tables import RunRow

if TYPE_CHECKING:
    from modelatlas.index.definitions import IndexDefinition

NON_REASONING_MAX_TOKENS = 16_384
"""The reference site's max output for non-reasoning models."""
NON_REASONING_TEMPERATURE = 0.0
REASONING_TEMPERATURE = 0.6
SAMPLE_BENCHMARKS: tuple[str, ...] = ("mmlu_pro", "gpqa_diamond", "gsm8k", "math500", "aime25")
INDEX_DEFINITIONS: tuple[str, ...] = ("atlas-v1", "aa-v3", "aa-v2")
"""Indices computed over a run's results (each incomplete unless all its components ran)."""

# Prompt-size estimate used to fit max_tokens into the context window: o200k counts are
# inflated for tokenizers with smaller vocabularies, and a chat template adds tokens per message.
PROMPT_TOKEN_FACTOR = 1.5
PROMPT_TOKENS_PER_MESSAGE = 16
PROMPT_TOKENS_FIXED = 32
MIN_MAX_TOKENS = 16


# --- endpoints -----------------------------------------------------------------------------


class EvalTarget(BaseModel):
    """The endpoint an eval runs against, with the catalog facts the runner needs."""

    slug: str
    base_url: str | None
    """The URL requests go to; a template with ``{port}`` for managed endpoints until served."""
    api_model_id: str
    api_key_env: str | None = None
    managed: str | None = None
    identity: str
    """What the cache key names the endpoint by (stable across restarts of managed servers)."""
    model_slug: str | None = None
    reasoning: bool = False
    reasoning_known: bool = False
    max_output: int | None = None
    context_limit: int | None = None
    prices: PriceSheet = Field(default_factory=PriceSheet)
    request_params: dict[str, Any] = Field(default_factory=dict)

    def spec(self) -> EndpointSpec:
        if self.base_url is None or "{port}" in self.base_url:
            raise UserError(f"The endpoint {self.slug} has no URL to call ({self.base_url}).")
        return EndpointSpec(
            base_url=self.base_url, model=self.api_model_id, api_key_env=self.api_key_env
        )


def resolve_target(
    endpoint: str | None = None,
    *,
    store: Store | None = None,
    base_url: str | None = None,
    model: str | None = None,
    api_key_env: str | None = None,
    reasoning: bool | None = None,
) -> EvalTarget:
    """An endpoint from the catalog (by slug, default the local model), or an ad-hoc one.

    With ``base_url`` and no catalog slug, ``model`` (the API model id) is required and
    nothing else is known: prices (so cost) unknown, context unknown, non-reasoning unless
    ``reasoning`` says otherwise. With both, the catalog entry is used at that URL.
    """
    from modelatlas.catalog import DEFAULT_ENDPOINT, load_catalog

    if base_url is not None and endpoint is None:
        if not model:
            raise UserError("--model (the API model id) is required with --base-url.")
        return EvalTarget(
            slug=f"custom/{model}",
            base_url=base_url,
            api_model_id=model,
            api_key_env=api_key_env,
            identity=base_url.rstrip("/"),
            reasoning=bool(reasoning),
            reasoning_known=reasoning is not None,
            prices=PriceSheet(source="unknown (endpoint not in the catalog)"),
        )
    catalog = load_catalog(store)
    entry = catalog.endpoint(endpoint or DEFAULT_ENDPOINT)
    conn = catalog.connection(entry.slug)
    found = catalog.find_model(entry.model)
    max_output = min(
        [v for v in (found.max_output if found else None, entry.max_output) if v is not None],
        default=None,
    )
    context = entry.context_limit or (found.context_window if found else None)
    url = base_url or conn.base_url
    template = conn.base_url or ""
    identity = (
        f"{entry.slug}@{template}" if conn.managed and base_url is None else (url or entry.slug)
    )
    model_reasoning = found.reasoning if found else None
    return EvalTarget(
        slug=entry.slug,
        base_url=url,
        api_model_id=model or conn.api_model_id,
        api_key_env=api_key_env or conn.api_key_env,
        managed=conn.managed if base_url is None else None,
        identity=identity.rstrip("/"),
        model_slug=entry.model,
        reasoning=bool(reasoning if reasoning is not None else model_reasoning),
        reasoning_known=reasoning is not None or model_reasoning is not None,
        max_output=max_output,
        context_limit=context,
        prices=PriceSheet.from_prices(
            entry.prices, self_hosted=entry.self_hosted, source=f"catalog:{entry.slug}"
        ),
        request_params=dict(conn.request_params),
    )


@contextlib.contextmanager
def serving(target: EvalTarget) -> Iterator[EvalTarget]:
    """The target with a callable URL: managed servers are started (and stopped after, if this
    block started them). A target that already has a URL is yielded as is."""
    if target.base_url is not None and "{port}" not in target.base_url:
        target.spec()
        yield target
        return
    if target.managed is not None:
        from modelatlas.endpoints.resolve import serve_managed
        from modelatlas.endpoints.sim import SimConfig

        sim = SimConfig(model=target.api_model_id, output_tokens=32)
        with serve_managed(target.managed, sim=sim) as url:
            yield target.model_copy(update={"base_url": url})
        return
    target.spec()  # a clear error for a URL that cannot be called
    yield target


# --- the LLM equality judge ----------------------------------------------------------------

JUDGE_MAX_TOKENS = 16
JUDGE_CONCURRENCY = 4
JUDGE_TAG = "llm_equality"
"""A benchmark tag that allows the judge on a benchmark outside the math category."""


def judge_allowed(benchmark: Benchmark) -> bool:
    """May the LLM equality judge look at this benchmark's wrong answers? (math answers only:
    a multiple-choice letter or a program is never judged equivalent by an LLM)."""
    return benchmark.category is Category.MATH or JUDGE_TAG in benchmark.tags


class JudgeSettings(BaseModel):
    """The pinned LLM equality judge of a run (stored with it, so rescore and resume reuse it)."""

    target: EvalTarget
    prompt_version: str = EQUALITY_PROMPT_VERSION
    temperature: float = 0.0
    max_tokens: int = Field(default=JUDGE_MAX_TOKENS, ge=1)
    concurrency: int = Field(default=JUDGE_CONCURRENCY, ge=1)
    benchmarks: list[str] = Field(default_factory=list)
    """The run's benchmarks the judge may check (filled when the run starts)."""

    def spec(self) -> JudgeSpec:
        return JudgeSpec(
            endpoint=self.target.identity,
            model=self.target.api_model_id,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            prompt_version=self.prompt_version,
        )

    def request(self, gold: str, answer: str) -> ChatRequest:
        return ChatRequest(
            messages=[dict(m) for m in equality_messages(gold, answer)],
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            extra_body=dict(self.target.request_params),
        )

    def key(self, request: ChatRequest) -> str:
        return cache.judge_key(
            self.target.identity, self.target.api_model_id, request, self.prompt_version
        )

    def describe(self) -> dict[str, Any]:
        """What the run config records about the judge."""
        return {
            "endpoint": self.target.slug,
            "identity": self.target.identity,
            "model": self.target.api_model_id,
            "prompt_version": self.prompt_version,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "benchmarks": list(self.benchmarks),
        }


def resolve_judge(
    endpoint: str | None = None,
    *,
    store: Store | None = None,
    base_url: str | None = None,
    model: str | None = None,
    api_key_env: str | None = None,
    max_tokens: int = JUDGE_MAX_TOKENS,
) -> JudgeSettings:
    """The judge: a catalog endpoint (by slug) or an ad-hoc one (``base_url`` and ``model``)."""
    if endpoint is None and base_url is None:
        raise UserError("A judge needs an endpoint slug, or a base URL and a model id.")
    target = resolve_target(
        endpoint, store=store, base_url=base_url, model=model, api_key_env=api_key_env
    )
    return JudgeSettings(target=target, max_tokens=max_tokens)


class JudgeOutcome(BaseModel):
    """One judge check of one answer (stored as ``EvalItemRow.judge``)."""

    key: str
    outcome: Literal["equivalent", "not_equivalent", "unparseable", "error"]
    verdict: str | None = None
    error: str | None = None
    from_cache: bool = False
    call_id: int | None = None
    attempts: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    tokens_source: str | None = None
    cost: dict[str, Any] = Field(default_factory=dict)
    cost_usd: float | None = None


@dataclass
class _JudgeCheck:
    """A judge check in flight: the outcome, and the call to store when one was made."""

    outcome: JudgeOutcome
    request: ChatRequest
    record: CallRecord | None  # set when this check made a call (not from the cache)


class _Judge:
    """Asks the pinned judge; the client (and a managed server) is opened on the first miss."""

    def __init__(
        self,
        settings: JudgeSettings,
        store: Store,
        *,
        max_attempts: int = 8,
        max_rate_limit_retries: int = 30,
        retry_backoff_s: float = 0.5,
        lock: asyncio.Lock | None = None,
    ) -> None:
        self.settings = settings
        self.spec = settings.spec()
        self.store = store
        self.limiter = AdaptiveConcurrency(settings.concurrency)
        self.max_attempts = max_attempts
        self.max_rate_limit_retries = max_rate_limit_retries
        self.retry_backoff_s = retry_backoff_s
        self.db_lock = lock or asyncio.Lock()
        self.stack: contextlib.AsyncExitStack | None = None
        self.client: EndpointClient | None = None
        self._open_lock = asyncio.Lock()
        self._rng = random.Random(1)
        self.calls_made = 0
        self.from_cache = 0

    def applies(self, benchmark: str, score: ItemScore | None) -> bool:
        return (
            score is not None
            and benchmark in self.settings.benchmarks
            and needs_equality_check(score)
        )

    async def _client(self) -> EndpointClient:
        async with self._open_lock:
            if self.client is None:
                assert self.stack is not None
                target = self.stack.enter_context(serving(self.settings.target))
                options = ClientOptions(
                    max_attempts=self.max_attempts,
                    retry_on=DEFAULT_RETRY_ON - {ErrorKind.RATE_LIMITED},
                    keep_events=False,
                )
                client = EndpointClient(target.spec(), options)
                self.client = await self.stack.enter_async_context(client)
            return self.client

    def _lookup(self, key: str) -> cache.CachedResponse | None:
        with self.store.session() as session:
            return cache.lookup(session, [key]).get(key)

    async def check(
        self, gold: str, score: ItemScore, previous: dict[str, Any] | None = None
    ) -> tuple[ItemScore, _JudgeCheck]:
        """The score after the judge's verdict (fail-closed), and the check to store.

        ``previous``: the item's stored check; when it is the same request with a verdict, its
        call id and provenance are kept (rescoring makes no new call for it).
        """
        assert score.extracted is not None
        request = self.settings.request(gold, score.extracted)
        key = self.settings.key(request)
        async with self.db_lock:
            hit = await asyncio.to_thread(self._lookup, key)
        made: CallRecord | None = None
        attempts = 0
        if hit is not None:
            self.from_cache += 1
            record = hit.record
        else:
            client = await self._client()
            record, attempts = await _call_with_retries(
                client,
                request,
                self.limiter,
                retries=self.max_rate_limit_retries,
                backoff_s=self.retry_backoff_s,
                rng=self._rng,
            )
            self.calls_made += 1
            made = record
        tokens = tokens_of(record)
        cost = cost_of(tokens, self.settings.target.prices)
        outcome = JudgeOutcome(
            key=key,
            outcome="error",
            from_cache=hit is not None,
            call_id=hit.call_id if hit is not None else None,
            attempts=attempts,
            input_tokens=tokens.input,
            cached_input_tokens=tokens.cached_input,
            output_tokens=tokens.output,
            reasoning_tokens=tokens.reasoning,
            tokens_source=tokens.source,
            cost=cost.model_dump(mode="json"),
            cost_usd=cost.total,
        )
        if record.error is not None:
            outcome.error = f"{record.error.kind.value}: {record.error.message}"[:500]
            details = {**score.details, "judge": f"{self.spec.endpoint}/{self.spec.model}"}
            judged = score.model_copy(
                update={"excluded": True, "reason": "judge call failed", "details": details}
            )
        else:
            outcome.verdict = record.answer or ""
            judged = apply_equality_verdict(score, outcome.verdict, self.spec)
            if judged.excluded:
                outcome.outcome = "unparseable"
            else:
                outcome.outcome = "equivalent" if judged.score >= 1.0 else "not_equivalent"
        if previous and previous.get("key") == key and previous.get("outcome") != "error":
            outcome.from_cache = bool(previous.get("from_cache"))
            outcome.call_id = previous.get("call_id")
            outcome.attempts = int(previous.get("attempts") or 0)
        return judged, _JudgeCheck(outcome, request, made)

    def store_call(self, session: Session, check: _JudgeCheck, run_id: str, label: str) -> None:
        """Record a call this check made (and cache its response) in ``session``."""
        if check.record is None:
            return
        row = call_row(
            check.record,
            run_id=run_id,
            endpoint_slug=self.settings.target.slug,
            request=check.request,
            label=f"judge:{label}",
        )
        session.add(row)
        session.flush()
        check.outcome.call_id = row.id
        cache.store_response(
            session,
            key=check.outcome.key,
            endpoint=self.settings.target.identity,
            request=check.request,
            repeat=0,
            record=check.record,
            call_id=row.id,
        )


async def _call_with_retries(
    client: EndpointClient,
    request: ChatRequest,
    limiter: AdaptiveConcurrency,
    *,
    retries: int,
    backoff_s: float,
    rng: random.Random,
) -> tuple[CallRecord, int]:
    """One request through ``limiter``, retried on rate limiting (Retry-After honoured).

    Raises :class:`EndpointCallError` when the endpoint was never reached.
    """
    attempts = 0
    for retry in range(retries + 1):
        async with limiter.slot() as ticket:
            record = await client.chat(request)
            attempts += record.attempts
            error = record.error
            if error is None:
                ticket.outcome = "ok"
            elif error.kind is ErrorKind.RATE_LIMITED:
                ticket.outcome = "rate_limited"
        if error is None or error.kind is not ErrorKind.RATE_LIMITED:
            break
        if retry == retries:
            break
        backoff = rng.uniform(0.0, min(30.0, backoff_s * 2**retry))
        await asyncio.sleep(max(backoff, min(error.retry_after_s or 0.0, 300.0)))
    if (
        record.error is not None
        and record.error.kind is ErrorKind.CONNECT_FAILED
        and not client.reached
    ):
        raise EndpointCallError(record.url, record.error)
    return record, attempts


# --- settings ------------------------------------------------------------------------------


class SamplingSettings(BaseModel):
    """The sampling parameters of every request of a run, and why they are what they are."""

    reasoning: bool
    temperature: float | None
    top_p: float | None = None
    max_tokens: int
    """Before per-item fitting into the context window."""
    seed: int | None = None
    context_limit: int | None = None
    notes: list[str] = Field(default_factory=list)


def sampling_for(
    target: EvalTarget,
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> SamplingSettings:
    """The reference method's settings for the target's kind of model, then the overrides."""
    notes: list[str] = []
    kind = "reasoning" if target.reasoning else "non-reasoning"
    if not target.reasoning_known:
        notes.append("reasoning unknown: treated as a non-reasoning model")
    if temperature is None:
        temperature = REASONING_TEMPERATURE if target.reasoning else NON_REASONING_TEMPERATURE
        notes.append(f"temperature {temperature:g}: reference default for {kind} models")
    else:
        notes.append(f"temperature {temperature:g}: overridden")
    if max_tokens is None:
        if target.reasoning and target.max_output:
            max_tokens = target.max_output
            notes.append(f"max_tokens {max_tokens:,}: the creator's maximum output")
        else:
            max_tokens = NON_REASONING_MAX_TOKENS
            why = "reference default for non-reasoning models"
            if target.reasoning:
                why = "the creator's maximum output is unknown; 16,384 used"
            notes.append(f"max_tokens {max_tokens:,}: {why}")
        if target.max_output and max_tokens > target.max_output:
            max_tokens = target.max_output
            notes.append(f"max_tokens lowered to the served maximum output {max_tokens:,}")
    else:
        notes.append(f"max_tokens {max_tokens:,}: overridden")
    if target.context_limit:
        notes.append(
            f"max_tokens lowered per item so that prompt + max_tokens fits the served context "
            f"of {target.context_limit:,} tokens"
        )
    return SamplingSettings(
        reasoning=target.reasoning,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        seed=seed,
        context_limit=target.context_limit,
        notes=notes,
    )


def estimate_prompt_tokens(messages: Sequence[dict[str, Any]]) -> int:
    """A conservative estimate of the prompt's tokens in an unknown tokenizer and template."""
    o200k = count_tokens(prompt_text(messages))
    return (
        math.ceil(o200k * PROMPT_TOKEN_FACTOR)
        + PROMPT_TOKENS_PER_MESSAGE * len(messages)
        + PROMPT_TOKENS_FIXED
    )


def fit_max_tokens(
    messages: Sequence[dict[str, Any]], max_tokens: int, context_limit: int | None
) -> int | None:
    """``max_tokens`` lowered so the prompt fits the context; None when the prompt cannot."""
    if context_limit is None:
        return max_tokens
    room = context_limit - estimate_prompt_tokens(messages)
    if room < MIN_MAX_TOKENS:
        return None
    return min(max_tokens, room)


class EvalConfig(BaseModel):
    """What to evaluate and how (stored with the run, so a resume repeats it exactly)."""

    benchmarks: list[str]
    limit: int | None = Field(default=None, ge=1)
    repeats: int = Field(default=1, ge=1)
    seed: int = 0
    """Seed of the item sample (``limit``); not sent to the endpoint."""
    concurrency: int | None = Field(default=None, ge=1)
    """Initial (and maximum) requests in flight; default 1 for the embedded model, else 8."""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    request_seed: int | None = None
    """``seed`` sent with each request (None: not sent)."""
    data_dir: str | None = None
    label: str | None = None
    max_attempts: int = Field(default=8, ge=1)
    max_rate_limit_retries: int = Field(default=30, ge=0)
    retry_backoff_s: float = Field(default=0.5, ge=0)
    """Base of the exponential backoff (full jitter) between rate-limited attempts."""
    judge: JudgeSettings | None = None
    """The pinned LLM equality judge (None: exact / math-verify matching only)."""


# --- adaptive concurrency ------------------------------------------------------------------


class Ticket:
    """One slot of the limiter: say how the request went before leaving the slot."""

    __slots__ = ("epoch", "outcome")

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.outcome: Literal["ok", "rate_limited", "other"] = "other"


class AdaptiveConcurrency:
    """A semaphore whose limit halves on rate limiting and grows back by one per window.

    A 429 halves the limit only if the request was sent at the current limit (its ``epoch``):
    a burst of 429s from requests already in flight counts once. After ``limit`` successes in
    a row at a limit below the maximum, the limit grows by one.
    """

    def __init__(self, initial: int, *, maximum: int | None = None, minimum: int = 1) -> None:
        if initial < 1:
            raise ValueError("concurrency must be at least 1")
        self.limit = initial
        self.initial = initial
        self.maximum = max(maximum or initial, initial)
        self.minimum = minimum
        self.active = 0
        self.epoch = 0
        self.rate_limited = 0
        self.lowest = initial
        self.history: list[tuple[float, int]] = [(time.monotonic(), initial)]
        self._successes = 0
        self._cond = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[Ticket]:
        async with self._cond:
            await self._cond.wait_for(lambda: self.active < self.limit)
            self.active += 1
            ticket = Ticket(self.epoch)
        try:
            yield ticket
        finally:
            async with self._cond:
                self.active -= 1
                self._settle(ticket)
                self._cond.notify_all()

    def _set(self, limit: int) -> None:
        self.limit = limit
        self.epoch += 1
        self._successes = 0
        self.lowest = min(self.lowest, limit)
        self.history.append((time.monotonic(), limit))

    def _settle(self, ticket: Ticket) -> None:
        if ticket.outcome == "rate_limited":
            self.rate_limited += 1
            if ticket.epoch == self.epoch:
                self._set(max(self.minimum, self.limit // 2))
        elif ticket.outcome == "ok" and self.limit < self.maximum:
            self._successes += 1
            if self._successes >= self.limit:
                self._set(self.limit + 1)

    def stats(self) -> dict[str, int]:
        return {
            "initial": self.initial,
            "final": self.limit,
            "lowest": self.lowest,
            "rate_limited_responses": self.rate_limited,
        }


# --- running -------------------------------------------------------------------------------


class ItemOutcome(BaseModel):
    """What progress displays learn about each finished unit."""

    benchmark: str
    item_id: str
    repeat: int
    score: float | None
    no_answer: bool = False
    error: str | None = None
    from_cache: bool = False
    output_tokens: int = 0
    cost_usd: float | None = None


class RunProgress(Protocol):
    def start(self, run_id: str, total: int, done: int) -> None: ...

    def advance(self, outcome: ItemOutcome) -> None: ...


@dataclass
class _Unit:
    benchmark: Benchmark
    item: Item
    repeat: int
    messages: list[dict[str, Any]]
    request: ChatRequest | None
    key: str


@dataclass
class EvalRunResult:
    """What :func:`run_eval` did: the run id, calls made, cache hits, the limiter's story."""

    run_id: str
    units: int
    already_done: int
    calls_made: int
    from_cache: int
    errors: int
    concurrency: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    judge_calls_made: int = 0
    judge_from_cache: int = 0


def _default_concurrency(target: EvalTarget) -> int:
    # The embedded llama.cpp server decodes one request at a time; queueing more there only
    # inflates the measured latencies.
    return 1 if target.managed == "llama-cpp" else 8


class _Runner:
    def __init__(
        self,
        store: Store,
        target: EvalTarget,
        config: EvalConfig,
        sampling: SamplingSettings,
        run_id: str,
        progress: RunProgress | None,
    ) -> None:
        self.store = store
        self.target = target
        self.config = config
        self.sampling = sampling
        self.run_id = run_id
        self.progress = progress
        concurrency = config.concurrency or _default_concurrency(target)
        self.limiter = AdaptiveConcurrency(concurrency)
        self.write_lock = asyncio.Lock()
        self.calls_made = 0
        self.from_cache = 0
        self.errors = 0
        self._rng = random.Random(0)
        self.judge: _Judge | None = None
        if config.judge is not None:
            self.judge = _Judge(
                config.judge,
                store,
                max_attempts=config.max_attempts,
                max_rate_limit_retries=config.max_rate_limit_retries,
                retry_backoff_s=config.retry_backoff_s,
                lock=self.write_lock,
            )

    def build_units(self, benchmarks: Sequence[Benchmark]) -> list[_Unit]:
        data_dir = Path(self.config.data_dir) if self.config.data_dir else None
        units: list[_Unit] = []
        s = self.sampling
        for benchmark in benchmarks:
            items = benchmark.load(
                limit=self.config.limit, seed=self.config.seed, data_dir=data_dir
            )
            for item in items:
                messages: list[dict[str, Any]] = [dict(m) for m in benchmark.prompt(item)]
                max_tokens = fit_max_tokens(messages, s.max_tokens, s.context_limit)
                for repeat in range(self.config.repeats):
                    request = None
                    key = f"unfit:{benchmark.key}:{item.id}:{repeat}"
                    if max_tokens is not None:
                        request = ChatRequest(
                            messages=messages,
                            max_tokens=max_tokens,
                            temperature=s.temperature,
                            top_p=s.top_p,
                            seed=s.seed,
                            extra_body=dict(self.target.request_params),
                        )
                        key = cache.request_key(
                            self.target.identity, self.target.api_model_id, request, repeat
                        )
                    units.append(_Unit(benchmark, item, repeat, messages, request, key))
        return units

    async def run(self, units: list[_Unit], done: set[tuple[str, str, int]]) -> None:
        pending = [u for u in units if (u.benchmark.key, u.item.id, u.repeat) not in done]
        with self.store.session() as session:
            hits = cache.lookup(session, [u.key for u in pending if u.request is not None])
        if self.progress is not None:
            self.progress.start(self.run_id, len(units), len(units) - len(pending))
        queue: asyncio.Queue[_Unit] = asyncio.Queue()
        for unit in pending:
            queue.put_nowait(unit)
        options = ClientOptions(
            max_attempts=self.config.max_attempts,
            retry_on=DEFAULT_RETRY_ON - {ErrorKind.RATE_LIMITED},
            keep_events=True,
        )
        needs_client = any(u.key not in hits and u.request is not None for u in pending)
        client: EndpointClient | None = None
        workers = max(self.limiter.maximum, 2)
        try:
            async with contextlib.AsyncExitStack() as stack:
                if self.judge is not None:
                    self.judge.stack = stack
                if needs_client:
                    # A managed server is started only when some call is not in the cache.
                    self.target = stack.enter_context(serving(self.target))
                    client = EndpointClient(self.target.spec(), options)
                    await stack.enter_async_context(client)
                tasks = [
                    asyncio.create_task(self._worker(queue, hits, client)) for _ in range(workers)
                ]
                try:
                    await asyncio.gather(*tasks)
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await asyncio.sleep(0)

    async def _worker(
        self,
        queue: asyncio.Queue[_Unit],
        hits: dict[str, cache.CachedResponse],
        client: EndpointClient | None,
    ) -> None:
        while True:
            try:
                unit = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await self._process(unit, hits.get(unit.key), client)

    async def _process(
        self, unit: _Unit, hit: cache.CachedResponse | None, client: EndpointClient | None
    ) -> None:
        if unit.request is None:
            await self._save(unit, None, hit=None, attempts=0, unfit=True)
            return
        if hit is not None:
            self.from_cache += 1
            await self._save(unit, hit.record, hit=hit, attempts=0)
            return
        assert client is not None
        record, attempts = await self._call(client, unit.request)
        self.calls_made += 1
        await self._save(unit, record, hit=None, attempts=attempts)

    async def _call(self, client: EndpointClient, request: ChatRequest) -> tuple[CallRecord, int]:
        return await _call_with_retries(
            client,
            request,
            self.limiter,
            retries=self.config.max_rate_limit_retries,
            backoff_s=self.config.retry_backoff_s,
            rng=self._rng,
        )

    async def _save(
        self,
        unit: _Unit,
        record: CallRecord | None,
        *,
        hit: cache.CachedResponse | None,
        attempts: int,
        unfit: bool = False,
    ) -> None:
        score: ItemScore | None = None
        if record is not None and record.error is None:
            score = await asyncio.to_thread(
                unit.benchmark.grade,
                unit.item,
                record.answer,
                finish_reason=record.finish_reason,
                think_unclosed=record.think_unclosed,
            )
        check: _JudgeCheck | None = None
        if (
            self.judge is not None
            and score is not None
            and self.judge.applies(unit.benchmark.key, score)
        ):
            score, check = await self.judge.check(unit.item.target, score)
        async with self.write_lock:
            outcome = await asyncio.to_thread(
                self._write, unit, record, score, hit, attempts, unfit, check
            )
        if outcome.error is not None:
            self.errors += 1
        if self.progress is not None:
            self.progress.advance(outcome)

    def _write(
        self,
        unit: _Unit,
        record: CallRecord | None,
        score: ItemScore | None,
        hit: cache.CachedResponse | None,
        attempts: int,
        unfit: bool,
        check: _JudgeCheck | None = None,
    ) -> ItemOutcome:
        tokens: TokenCounts | None = tokens_of(record) if record is not None else None
        cost: Cost | None = cost_of(tokens, self.target.prices) if tokens is not None else None
        error_kind = error_message = None
        if unfit:
            error_kind, error_message = "prompt_too_long", "the prompt does not fit the context"
        elif record is not None and record.error is not None:
            error_kind, error_message = record.error.kind.value, record.error.message
        with self.store.session() as session:
            call_id = hit.call_id if hit is not None else None
            if record is not None and hit is None:
                row = call_row(
                    record,
                    run_id=self.run_id,
                    endpoint_slug=self.target.slug,
                    request=unit.request,
                    label=f"{unit.benchmark.key}/{unit.item.id}#{unit.repeat}",
                )
                session.add(row)
                session.flush()
                call_id = row.id
                if unit.request is not None:
                    cache.store_response(
                        session,
                        key=unit.key,
                        endpoint=self.target.identity,
                        request=unit.request,
                        repeat=unit.repeat,
                        record=record,
                        call_id=call_id,
                    )
            if check is not None and self.judge is not None:
                label = f"{unit.benchmark.key}/{unit.item.id}#{unit.repeat}"
                self.judge.store_call(session, check, self.run_id, label)
            session.execute(
                delete(EvalItemRow).where(
                    EvalItemRow.run_id == self.run_id,
                    EvalItemRow.benchmark == unit.benchmark.key,
                    EvalItemRow.item_id == unit.item.id,
                    EvalItemRow.repeat == unit.repeat,
                )
            )
            speed = hit.output_speed_tps if hit is not None else None
            if record is not None and hit is None:
                speed = record.output_speed_tps
            session.add(
                EvalItemRow(
                    run_id=self.run_id,
                    call_id=call_id,
                    benchmark=unit.benchmark.key,
                    benchmark_version=unit.benchmark.version,
                    item_id=unit.item.id,
                    repeat=unit.repeat,
                    request_key=unit.key,
                    from_cache=hit is not None,
                    item=unit.item.model_dump(mode="json"),
                    messages=unit.messages,
                    request=unit.request.model_dump(mode="json", exclude={"messages"})
                    if unit.request is not None
                    else {},
                    answer_text=record.answer if record is not None else None,
                    reasoning_text=(record.reasoning or None) if record is not None else None,
                    finish_reason=record.finish_reason if record is not None else None,
                    think_unclosed=record.think_unclosed if record is not None else False,
                    error_kind=error_kind,
                    error_message=error_message,
                    **_score_columns(score, unit.benchmark.version),
                    input_tokens=tokens.input if tokens else None,
                    cached_input_tokens=tokens.cached_input if tokens else None,
                    output_tokens=tokens.output if tokens else None,
                    reasoning_tokens=tokens.reasoning if tokens else None,
                    tokens_source=tokens.source if tokens else None,
                    ttft_s=record.ttft_s if record is not None else None,
                    e2e_s=record.e2e_s if record is not None else None,
                    output_speed_tps=speed,
                    attempts=attempts,
                    cost_usd=cost.total if cost is not None else None,
                    cost=cost.model_dump(mode="json") if cost is not None else {},
                    judge=check.outcome.model_dump(mode="json") if check is not None else {},
                )
            )
        return ItemOutcome(
            benchmark=unit.benchmark.key,
            item_id=unit.item.id,
            repeat=unit.repeat,
            score=None if score is None or score.excluded else score.score,
            no_answer=bool(score and score.no_answer),
            error=error_kind,
            from_cache=hit is not None,
            output_tokens=tokens.output if tokens else 0,
            cost_usd=cost.total if cost is not None else None,
        )


def _score_columns(score: ItemScore | None, version: str) -> dict[str, Any]:
    if score is None:
        return {"score": None, "scorer_version": None, "scored_at": None}
    return {
        "score": score.score,
        "extracted": score.extracted,
        "method": score.method,
        "no_answer": score.no_answer,
        "reason": score.reason,
        "excluded": score.excluded,
        "score_details": score.details,
        "scorer_version": version,
        "scored_at": datetime.now(UTC),
    }


def resolve_benchmarks(names: Sequence[str]) -> list[Benchmark]:
    """Benchmarks by key or alias, deduplicated; unknown names get a did-you-mean error."""
    if not names:
        raise UserError("No benchmarks given.", hint="List them with: modelatlas eval list")
    found = [get_benchmark(name) for name in names]
    unique: dict[str, Benchmark] = {}
    for benchmark in found:
        unique.setdefault(benchmark.key, benchmark)
    return list(unique.values())


def get_run(session: Session, run_id: str) -> RunRow:
    """The eval run with this id (a unique prefix is enough), or a did-you-mean error."""
    run = session.get(RunRow, run_id)
    if run is None:
        ids = list(session.scalars(select(RunRow.id).where(RunRow.kind == "eval")))
        matches = [i for i in ids if i.startswith(run_id)]
        run = session.get(RunRow, matches[0]) if len(matches) == 1 else None
        if run is None:
            raise NotFoundError("eval run", run_id, ids)
    if run.kind != "eval":
        raise UserError(f"Run {run_id} is a {run.kind} run, not an eval run.")
    return run


async def run_eval(
    store: Store,
    target: EvalTarget,
    config: EvalConfig,
    *,
    resume_run_id: str | None = None,
    progress: RunProgress | None = None,
) -> EvalRunResult:
    """Run (or resume) an evaluation; every item is stored as it ends.

    A managed target (the embedded model) is started only if some call is not cached, and
    stopped after if this run started it (see :func:`serving`). On resume, the stored
    config and sampling settings are used (``config`` only contributes ``concurrency``).
    """
    started = time.monotonic()
    if resume_run_id is not None:
        with store.session() as session:
            run = get_run(session, resume_run_id)
            run_id = run.id
            stored = run.config
            config = EvalConfig.model_validate(
                {
                    **stored["eval"],
                    "concurrency": config.concurrency or stored["eval"].get("concurrency"),
                }
            )
            sampling = SamplingSettings.model_validate(stored["sampling"])
            stored_target = EvalTarget.model_validate(stored["target"])
            if stored_target.identity != target.identity:
                raise UserError(
                    f"Run {run_id} was made against {stored_target.slug} "
                    f"({stored_target.identity}), not {target.slug}.",
                    hint="Resume it with the same --endpoint (or --base-url and --model).",
                )
            run.status = "running"
            done = {
                (r.benchmark, r.item_id, r.repeat)
                for r in session.scalars(
                    select(EvalItemRow).where(
                        EvalItemRow.run_id == run_id, EvalItemRow.error_kind.is_(None)
                    )
                )
            }
        benchmarks = resolve_benchmarks(config.benchmarks)
    else:
        benchmarks = resolve_benchmarks(config.benchmarks)
        config = config.model_copy(update={"benchmarks": [b.key for b in benchmarks]})
        if config.judge is not None:
            allowed = [b.key for b in benchmarks if judge_allowed(b)]
            config = config.model_copy(
                update={"judge": config.judge.model_copy(update={"benchmarks": allowed})}
            )
        sampling = sampling_for(
            target,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            top_p=config.top_p,
            seed=config.request_seed,
        )
        done = set()
        run_id = ""
    runner = _Runner(store, target, config, sampling, run_id, progress)
    units = runner.build_units(benchmarks)  # dataset errors surface before a run is recorded
    if resume_run_id is None:
        with store.session() as session:
            run = start_run(
                session,
                kind="eval",
                endpoint_slug=target.slug,
                model_slug=target.model_slug,
                config={
                    "eval": config.model_dump(mode="json"),
                    "sampling": sampling.model_dump(mode="json"),
                    "target": target.model_dump(mode="json", exclude={"base_url"})
                    | {"base_url": target.base_url if target.managed is None else None},
                    "benchmarks": {b.key: b.describe() for b in benchmarks},
                    "repeats": config.repeats,
                    "limit": config.limit,
                    "seed": config.seed,
                    "sample": _is_sample(benchmarks, config.limit),
                    "label": config.label,
                    "units": len(units),
                    "judge": config.judge.describe() if config.judge is not None else None,
                },
            )
            runner.run_id = run.id
            run_id = run.id
    status = "failed"
    try:
        await runner.run(units, done)
        status = "done" if runner.errors == 0 else "incomplete"
    except (asyncio.CancelledError, KeyboardInterrupt):
        status = "interrupted"
        raise
    finally:
        with contextlib.suppress(Exception), store.session() as session:
            ended = session.get(RunRow, run_id)
            if ended is not None:
                summary = summarize(session, ended)
                finish_run(ended, status=status, summary=summary.model_dump(mode="json"))
                if status == "interrupted":
                    ended.finished_at = None
    return EvalRunResult(
        run_id=run_id,
        units=len(units),
        already_done=len(done),
        calls_made=runner.calls_made,
        from_cache=runner.from_cache,
        errors=runner.errors,
        concurrency=runner.limiter.stats(),
        elapsed_s=time.monotonic() - started,
        judge_calls_made=runner.judge.calls_made if runner.judge is not None else 0,
        judge_from_cache=runner.judge.from_cache if runner.judge is not None else 0,
    )


def _is_sample(benchmarks: Sequence[Benchmark], limit: int | None) -> bool:
    return limit is not None and any(limit < b.item_count for b in benchmarks)


# --- results -------------------------------------------------------------------------------


def wilson_interval(p: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of a proportion ``p`` over ``n`` trials."""
    if n <= 0:
        return (0.0, 1.0)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


class TokenTotals(BaseModel):
    input: int = 0
    cached_input: int = 0
    output: int = 0
    """Verbosity: output tokens, reasoning included."""
    reasoning: int = 0
    answer: int = 0
    source: str | None = None


class CostTotals(BaseModel):
    """USD by segment; ``None`` means unknown (a price is missing), never 0."""

    input: float | None = None
    cached_input: float | None = None
    reasoning: float | None = None
    answer: float | None = None
    total: float | None = None
    per_task: float | None = None
    unknown_prices: list[str] = Field(default_factory=list)
    price_source: str | None = None


class BenchmarkResult(BaseModel):
    key: str
    display_name: str
    version: str
    items: int
    """Items with at least one scored answer."""
    answers: int
    """Scored answers (items x repeats, failed calls excluded)."""
    repeats: int
    accuracy: float | None
    """0-100: pass@1 averaged over repeats (per item), then over items."""
    ci_low: float | None = None
    ci_high: float | None = None
    ci_method: str = "95% Wilson score interval over items"
    no_answer: int = 0
    no_answer_reasons: dict[str, int] = Field(default_factory=dict)
    extraction_failed: int = 0
    extraction_failure_rate: float = 0.0
    excluded: int = 0
    judge_checked: int = 0
    """Answers the LLM equality judge looked at (exact / math-verify matching had failed)."""
    judge_equivalent: int = 0
    """Of those, answers the judge found equivalent (scored correct)."""
    judge_unparseable: int = 0
    """Of those, answers excluded because the verdict could not be read (fail-closed)."""
    errors: int = 0
    from_cache: int = 0
    scorer_versions: list[str] = Field(default_factory=list)
    tokens: TokenTotals = Field(default_factory=TokenTotals)
    cost: CostTotals = Field(default_factory=CostTotals)
    time_per_task_s: float | None = None
    median_output_speed_tps: float | None = None


class IndexSummary(BaseModel):
    definition: str
    title: str
    version: str
    status: str
    value: float | None
    missing: list[str]
    components: dict[str, str]
    """Index component key -> benchmark key that fed it."""
    sub_indices: dict[str, float | None] = Field(default_factory=dict)
    ci_low: float | None = None
    ci_high: float | None = None
    ci_method: str | None = None
    """How the interval was computed; None when there is none (see ``ci_note``)."""
    ci_note: str | None = None
    """Why there is no interval (an incomplete index has none)."""
    sample: bool = False


class JudgeSummary(BaseModel):
    """What the LLM equality judge did over a run; its tokens and cost are not the model's."""

    endpoint: str
    model: str
    prompt_version: str
    temperature: float
    benchmarks: list[str]
    checked: int = 0
    equivalent: int = 0
    not_equivalent: int = 0
    unparseable: int = 0
    """Verdicts that could not be read: those items are excluded from accuracy."""
    errors: int = 0
    """Judge calls that failed: those items are excluded too (``eval rescore`` retries them)."""
    calls: int = 0
    """Checks answered by a call this run made (the rest came from the cache)."""
    from_cache: int = 0
    tokens: TokenTotals = Field(default_factory=TokenTotals)
    cost: CostTotals = Field(default_factory=CostTotals)


class EvalSummary(BaseModel):
    run_id: str
    status: str
    endpoint: str
    model_slug: str | None
    started_at: datetime | None
    finished_at: datetime | None
    sample: bool
    label: str | None
    sample_note: str | None
    repeats: int
    limit: int | None
    seed: int
    sampling: dict[str, Any]
    benchmarks: list[BenchmarkResult]
    tokens: TokenTotals
    cost: CostTotals
    answers: int
    errors: int
    from_cache: int
    calls: int
    time_per_task_s: float | None
    median_output_speed_tps: float | None
    indices: list[IndexSummary]
    judge: JudgeSummary | None = None
    """The pinned LLM equality judge and what it did (None: no judge)."""
    judge_unparseable: int = 0
    """Items excluded because the judge's verdict could not be read (fail-closed)."""
    notes: list[str] = Field(default_factory=list)


def _token_totals(rows: Sequence[EvalItemRow]) -> TokenTotals:
    total = TokenTotals()
    sources = {r.tokens_source for r in rows if r.tokens_source}
    for r in rows:
        total.input += r.input_tokens or 0
        total.cached_input += r.cached_input_tokens or 0
        total.output += r.output_tokens or 0
        total.reasoning += r.reasoning_tokens or 0
    total.answer = max(total.output - total.reasoning, 0)
    total.source = next(iter(sources)) if len(sources) == 1 else ("mixed" if sources else None)
    return total


def _cost_totals(rows: Sequence[EvalItemRow], price_source: str | None) -> CostTotals:
    return _sum_costs([cost_from_json(r.cost) for r in rows if r.error_kind is None], price_source)


def _sum_costs(costs: Sequence[Cost], price_source: str | None) -> CostTotals:
    out = CostTotals(price_source=price_source)
    if not costs:
        return out
    summed = costs[0]
    for c in costs[1:]:
        summed = summed + c
    out.input, out.cached_input = summed.input, summed.cached_input
    out.reasoning, out.answer = summed.reasoning, summed.answer
    out.total = summed.total
    out.per_task = None if summed.total is None else summed.total / len(costs)
    out.unknown_prices = summed.unknown_prices
    return out


def _judged(rows: Sequence[EvalItemRow]) -> list[dict[str, Any]]:
    """The stored judge checks of the scored rows."""
    return [r.judge for r in rows if r.error_kind is None and r.judge]


def _judge_summary(rows: Sequence[EvalItemRow], described: dict[str, Any]) -> JudgeSummary:
    checks = _judged(rows)
    outcomes = [c.get("outcome") for c in checks]
    tokens = TokenTotals()
    sources = {c.get("tokens_source") for c in checks if c.get("tokens_source")}
    for c in checks:
        tokens.input += int(c.get("input_tokens") or 0)
        tokens.cached_input += int(c.get("cached_input_tokens") or 0)
        tokens.output += int(c.get("output_tokens") or 0)
        tokens.reasoning += int(c.get("reasoning_tokens") or 0)
    tokens.answer = max(tokens.output - tokens.reasoning, 0)
    tokens.source = next(iter(sources)) if len(sources) == 1 else ("mixed" if sources else None)
    target = described.get("target") or {}
    price_source = (target.get("prices") or {}).get("source")
    costs = [cost_from_json(c.get("cost")) for c in checks if c.get("outcome") != "error"]
    return JudgeSummary(
        endpoint=str(target.get("slug") or ""),
        model=str(target.get("api_model_id") or ""),
        prompt_version=str(described.get("prompt_version") or ""),
        temperature=float(described.get("temperature") or 0.0),
        benchmarks=list(described.get("benchmarks") or []),
        checked=len(checks),
        equivalent=outcomes.count("equivalent"),
        not_equivalent=outcomes.count("not_equivalent"),
        unparseable=outcomes.count("unparseable"),
        errors=outcomes.count("error"),
        calls=sum(1 for c in checks if not c.get("from_cache") and c.get("outcome") != "error"),
        from_cache=sum(1 for c in checks if c.get("from_cache")),
        tokens=tokens,
        cost=_sum_costs(costs, price_source),
    )


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def item_credits(rows: Sequence[EvalItemRow]) -> dict[str, float]:
    """Per item: the mean score over its scored, non-excluded repeats (pass@1 over K)."""
    by_item: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r.error_kind is None and r.score is not None and not r.excluded:
            by_item[r.item_id].append(r.score)
    return {item: statistics.fmean(scores) for item, scores in by_item.items()}


def _benchmark_result(
    key: str, rows: Sequence[EvalItemRow], described: dict[str, Any], price_source: str | None
) -> BenchmarkResult:
    scored = [r for r in rows if r.error_kind is None and r.score is not None]
    credits = item_credits(rows)
    extraction = summarize_extraction(
        ItemScore(
            score=r.score or 0.0,
            extracted=r.extracted,
            method=r.method,
            no_answer=r.no_answer,
            reason=r.reason,
            excluded=r.excluded,
        )
        for r in scored
    )
    checks = _judged(rows)
    accuracy = ci_low = ci_high = None
    if credits:
        p = statistics.fmean(credits.values())
        low, high = wilson_interval(p, len(credits))
        accuracy, ci_low, ci_high = 100 * p, 100 * low, 100 * high
    return BenchmarkResult(
        key=key,
        display_name=str(described.get("display_name") or key),
        version=str(described.get("version") or ""),
        items=len(credits),
        answers=len(scored),
        repeats=max((r.repeat for r in rows), default=-1) + 1,
        accuracy=accuracy,
        ci_low=ci_low,
        ci_high=ci_high,
        no_answer=extraction.no_answer,
        no_answer_reasons=extraction.no_answer_reasons,
        extraction_failed=extraction.extraction_failed,
        extraction_failure_rate=extraction.failure_rate,
        excluded=extraction.excluded,
        judge_checked=len(checks),
        judge_equivalent=sum(1 for c in checks if c.get("outcome") == "equivalent"),
        judge_unparseable=sum(1 for c in checks if c.get("outcome") == "unparseable"),
        errors=sum(1 for r in rows if r.error_kind is not None),
        from_cache=sum(1 for r in rows if r.from_cache),
        scorer_versions=sorted({r.scorer_version for r in scored if r.scorer_version}),
        tokens=_token_totals(scored),
        cost=_cost_totals(scored, price_source),
        time_per_task_s=_mean([r.e2e_s for r in scored]),
        median_output_speed_tps=_median([r.output_speed_tps for r in scored]),
    )


def component_key(definition: Any, benchmark_key: str) -> str | None:
    """The index component a benchmark feeds (by key, alias or AA key), or None."""
    keys = set(definition.component_keys)
    candidates = [benchmark_key]
    with contextlib.suppress(UserError):
        b = get_benchmark(benchmark_key)
        candidates += [b.key, *b.aliases, *([b.aa_key] if b.aa_key else [])]
    return next((c for c in candidates if c in keys), None)


INDEX_CI_BOOTSTRAPS = 1000
INDEX_CI_SEED = 0


def index_summaries(
    accuracies: dict[str, float],
    credits: dict[str, list[float]],
    *,
    sample: bool,
    definitions: Sequence[str | IndexDefinition] = INDEX_DEFINITIONS,
) -> list[IndexSummary]:
    """Each index over the benchmarks that ran; incomplete (no value) when any is missing.

    A complete index gets a 95% bootstrap interval from the run's per-item credits, items
    resampled within each component (:func:`modelatlas.index.compute.bootstrap_ci`); an
    incomplete one has neither value nor interval, and says so in ``ci_note``.
    """
    from modelatlas.index.compute import bootstrap_ci, compute_index
    from modelatlas.index.definitions import get_definition

    out: list[IndexSummary] = []
    for name in definitions:
        definition = get_definition(name) if isinstance(name, str) else name
        used: dict[str, str] = {}
        for bench in accuracies:
            comp = component_key(definition, bench)
            if comp is not None and comp not in used:
                used[comp] = bench
        result = compute_index(definition, {c: accuracies[b] for c, b in used.items()})
        low = high = None
        method: str | None = None
        note: str | None = f"no CI: index {result.status}"
        if result.missing:
            note = f"{note} (missing {', '.join(result.missing)})"
        items = {c: credits.get(b, []) for c, b in used.items()}
        if result.value is not None and all(items.values()):
            boot = bootstrap_ci(definition, items, n_boot=INDEX_CI_BOOTSTRAPS, seed=INDEX_CI_SEED)
            if boot.index is not None:
                low, high = boot.index.low, boot.index.high
                sizes = ", ".join(f"{k} {n}" for k, n in boot.n_items.items())
                method = (
                    f"95% percentile bootstrap, items resampled within each component "
                    f"({INDEX_CI_BOOTSTRAPS} replicates, seed {INDEX_CI_SEED}; items: {sizes})"
                )
                note = None
        elif result.value is not None:
            note = "no CI: some component has no per-item scores"
        out.append(
            IndexSummary(
                definition=definition.name,
                title=definition.title,
                version=definition.version,
                status=result.status,
                value=result.value,
                missing=result.missing,
                components=used,
                sub_indices={k: s.value for k, s in result.sub_indices.items()},
                ci_low=low,
                ci_high=high,
                ci_method=method,
                ci_note=note,
                sample=sample,
            )
        )
    return out


def summarize(
    session: Session,
    run: RunRow,
    *,
    definitions: Sequence[str | IndexDefinition] = INDEX_DEFINITIONS,
) -> EvalSummary:
    """The results of an eval run, computed from its stored items (so rescoring shows)."""
    rows = list(
        session.scalars(
            select(EvalItemRow)
            .where(EvalItemRow.run_id == run.id)
            .order_by(EvalItemRow.benchmark, EvalItemRow.item_id, EvalItemRow.repeat)
        )
    )
    cfg = run.config or {}
    described: dict[str, dict[str, Any]] = cfg.get("benchmarks", {})
    price_source = (cfg.get("target") or {}).get("prices", {}).get("source")
    by_bench: dict[str, list[EvalItemRow]] = defaultdict(list)
    for r in rows:
        by_bench[r.benchmark].append(r)
    order = list(described) + [k for k in by_bench if k not in described]
    results = [
        _benchmark_result(k, by_bench.get(k, []), described.get(k, {}), price_source) for k in order
    ]
    sample = bool(cfg.get("sample"))
    accuracies = {b.key: b.accuracy for b in results if b.accuracy is not None}
    credits = {k: list(item_credits(by_bench[k]).values()) for k in accuracies}
    indices = (
        index_summaries(accuracies, credits, sample=sample, definitions=definitions)
        if results
        else []
    )
    scored = [r for r in rows if r.error_kind is None and r.score is not None]
    notes: list[str] = []
    sample_note = None
    if sample:
        sample_note = (
            f"SAMPLE: {cfg.get('limit')} items per benchmark (seed {cfg.get('seed', 0)}); "
            "scores are indicative only and not comparable with full-benchmark results."
        )
    pending = int(cfg.get("units", 0)) - len(rows)
    if pending > 0:
        notes.append(f"{pending} items not run yet: resume with `modelatlas eval run --resume`")
    errors = sum(1 for r in rows if r.error_kind is not None)
    if errors:
        notes.append(f"{errors} items failed (no response); they are retried on resume")
    judge = None
    described_judge = (cfg.get("eval") or {}).get("judge")
    if described_judge:
        judge = _judge_summary(rows, {**described_judge, **(cfg.get("judge") or {})})
        if judge.unparseable:
            notes.append(
                f"{judge.unparseable} items excluded: the judge's verdict could not be read "
                "(fail-closed; not counted in accuracy)"
            )
        if judge.errors:
            notes.append(
                f"{judge.errors} items excluded: the judge call failed; "
                f"`modelatlas eval rescore {run.id}` asks again"
            )
    return EvalSummary(
        run_id=run.id,
        status=run.status,
        endpoint=run.endpoint_slug,
        model_slug=run.model_slug,
        started_at=run.started_at,
        finished_at=run.finished_at,
        sample=sample,
        label=cfg.get("label"),
        sample_note=sample_note,
        repeats=int(cfg.get("repeats", 1)),
        limit=cfg.get("limit"),
        seed=int(cfg.get("seed", 0)),
        sampling=cfg.get("sampling", {}),
        benchmarks=results,
        tokens=_token_totals(scored),
        cost=_cost_totals(scored, price_source),
        answers=len(scored),
        errors=errors,
        from_cache=sum(1 for r in rows if r.from_cache),
        calls=sum(1 for r in rows if not r.from_cache and r.error_kind != "prompt_too_long"),
        time_per_task_s=_mean([r.e2e_s for r in scored]),
        median_output_speed_tps=_median([r.output_speed_tps for r in scored]),
        indices=indices,
        judge=judge,
        judge_unparseable=judge.unparseable if judge is not None else 0,
        notes=notes,
    )


def load_summary(
    store: Store,
    run_id: str,
    *,
    definitions: Sequence[str | IndexDefinition] = INDEX_DEFINITIONS,
) -> EvalSummary:
    with store.session() as session:
        return summarize(session, get_run(session, run_id), definitions=definitions)


def list_runs(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """Recent eval runs, newest first (id, endpoint, status, benchmarks, sample, when)."""
    with store.session() as session:
        runs = session.scalars(
            select(RunRow)
            .where(RunRow.kind == "eval")
            .order_by(RunRow.started_at.desc())
            .limit(limit)
        ).all()
        out = []
        for run in runs:
            cfg = run.config or {}
            summary = run.summary or {}
            out.append(
                {
                    "run_id": run.id,
                    "endpoint": run.endpoint_slug,
                    "status": run.status,
                    "started_at": run.started_at,
                    "benchmarks": list(cfg.get("benchmarks", {})),
                    "limit": cfg.get("limit"),
                    "repeats": cfg.get("repeats"),
                    "sample": bool(cfg.get("sample")),
                    "answers": summary.get("answers"),
                }
            )
        return out


# --- rescoring -----------------------------------------------------------------------------


class RescoreReport(BaseModel):
    run_id: str
    rescored: int
    changed: int
    prompt_changed: int
    """Items whose benchmark now builds a different prompt: their responses answer the old one."""
    versions: dict[str, list[str]]
    """Benchmark -> [version the items were scored with, version now]."""
    judge_calls: int = 0
    """Calls this rescore made to the run's judge (verdicts not in the cache)."""
    judge_from_cache: int = 0
    summary: EvalSummary


def rescore_run(
    store: Store,
    run_id: str,
    *,
    on_item: Callable[[], None] | None = None,
    workers: int = 2,
) -> RescoreReport:
    """Re-grade every stored response of a run with the current scorers (no model calls).

    When the run has a judge, its verdicts come from the response cache; only checks that are
    not cached (a new extraction, or a judge call that failed before) call the judge.
    """
    with store.session() as session:
        run = get_run(session, run_id)
        run_id = run.id
        eval_config = EvalConfig.model_validate(
            (run.config or {}).get("eval") or {"benchmarks": []}
        )
        rows = list(
            session.scalars(
                select(EvalItemRow).where(
                    EvalItemRow.run_id == run_id, EvalItemRow.error_kind.is_(None)
                )
            )
        )
    benchmarks = {key: get_benchmark(key) for key in {r.benchmark for r in rows}}

    def grade(row: EvalItemRow) -> tuple[int, ItemScore, bool]:
        benchmark = benchmarks[row.benchmark]
        item = Item.model_validate(row.item)
        score = benchmark.grade(
            item,
            row.answer_text,
            finish_reason=row.finish_reason,
            think_unclosed=row.think_unclosed,
        )
        prompt_changed = [dict(m) for m in benchmark.prompt(item)] != row.messages
        if on_item is not None:
            on_item()
        return row.id, score, prompt_changed

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        graded = list(pool.map(grade, rows))
    judge: _Judge | None = None
    checks: dict[int, _JudgeCheck] = {}
    if eval_config.judge is not None:
        judge = _Judge(
            eval_config.judge,
            store,
            max_attempts=eval_config.max_attempts,
            max_rate_limit_retries=eval_config.max_rate_limit_retries,
            retry_backoff_s=eval_config.retry_backoff_s,
        )
        graded, checks = asyncio.run(_rejudge(judge, rows, graded))
    changed = prompt_changed = 0
    versions: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        versions[r.benchmark].add(r.scorer_version or "?")
    with store.session() as session:
        for row_id, score, moved in graded:
            row = session.get(EvalItemRow, row_id)
            assert row is not None
            if row.score != score.score or row.extracted != score.extracted:
                changed += 1
            prompt_changed += moved
            for name, value in _score_columns(score, benchmarks[row.benchmark].version).items():
                setattr(row, name, value)
            check = checks.get(row_id)
            if check is not None and judge is not None:
                label = f"{row.benchmark}/{row.item_id}#{row.repeat}"
                judge.store_call(session, check, run_id, label)
                row.judge = check.outcome.model_dump(mode="json")
            elif judge is not None:
                row.judge = {}
        run = get_run(session, run_id)
        session.flush()
        summary = summarize(session, run)
        run.summary = summary.model_dump(mode="json")
    return RescoreReport(
        run_id=run_id,
        rescored=len(graded),
        changed=changed,
        prompt_changed=prompt_changed,
        versions={k: [*sorted(v), benchmarks[k].version] for k, v in versions.items()},
        judge_calls=judge.calls_made if judge is not None else 0,
        judge_from_cache=judge.from_cache if judge is not None else 0,
        summary=summary,
    )


async def _rejudge(
    judge: _Judge,
    rows: Sequence[EvalItemRow],
    graded: list[tuple[int, ItemScore, bool]],
) -> tuple[list[tuple[int, ItemScore, bool]], dict[int, _JudgeCheck]]:
    """Pass the regraded scores through the run's judge (cache first, then calls)."""
    by_id = {r.id: r for r in rows}
    checks: dict[int, _JudgeCheck] = {}

    async def one(entry: tuple[int, ItemScore, bool]) -> tuple[int, ItemScore, bool]:
        row_id, score, moved = entry
        row = by_id[row_id]
        if not judge.applies(row.benchmark, score):
            return entry
        gold = str((row.item or {}).get("target", ""))
        judged, check = await judge.check(gold, score, previous=row.judge or None)
        checks[row_id] = check
        return row_id, judged, moved

    async with contextlib.AsyncExitStack() as stack:
        judge.stack = stack
        out = list(await asyncio.gather(*(one(entry) for entry in graded)))
    return out, checks


# --- one call for the demo -----------------------------------------------------------------


def run_sample(
    endpoint: str | None = None,
    benchmarks: Sequence[str] = SAMPLE_BENCHMARKS,
    limit: int = 3,
    *,
    db: str | None = None,
    store: Store | None = None,
    data_dir: str | Path | None = None,
    max_tokens: int | None = None,
    concurrency: int | None = None,
    progress: RunProgress | None = None,
) -> EvalSummary:
    """Run ``limit`` items of each benchmark on an endpoint (default: the embedded local model,
    started if needed) and return the run's summary, labelled as a sample.

    Render it with :func:`modelatlas.evals.commands.render_summary`.
    """
    own_store = store is None
    store = store or open_store(db)
    try:
        resolve_benchmarks(benchmarks)  # before starting a server
        target = resolve_target(endpoint, store=store)
        config = EvalConfig(
            benchmarks=list(benchmarks),
            limit=limit,
            max_tokens=max_tokens,
            concurrency=concurrency,
            data_dir=str(data_dir) if data_dir is not None else None,
            label="sample",
        )
        result = asyncio.run(run_eval(store, target, config, progress=progress))
        return load_summary(store, result.run_id)
    finally:
        if own_store:
            store.close()
