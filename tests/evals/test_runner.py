"""The eval runner against a real HTTP server that answers what each test scripts.

The simulated endpoint (``endpoints.sim``) always answers the same words, so scoring paths are
tested against a small aiohttp server of this file: it streams OpenAI-style SSE with a chosen
answer, reasoning, finish reason and usage per item, can answer 429 first, and records every
request it received.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from modelatlas.endpoints.sim import app_in_thread
from modelatlas.errors import NotFoundError, UserError
from modelatlas.evals import registry
from modelatlas.evals.core import Item, ItemScore
from modelatlas.evals.cost import PriceSheet
from modelatlas.evals.registry import get_benchmark
from modelatlas.evals.runner import (
    AdaptiveConcurrency,
    EvalConfig,
    EvalTarget,
    estimate_prompt_tokens,
    fit_max_tokens,
    load_summary,
    rescore_run,
    resolve_target,
    run_eval,
    sampling_for,
    wilson_interval,
)
from modelatlas.store.base import Store, open_store
from modelatlas.store.eval_tables import EvalItemRow
from modelatlas.store.run_tables import CallRow, RunRow

# --- a scripted OpenAI-compatible server ---------------------------------------------------


@dataclass
class Reply:
    content: str = ""
    reasoning: str = ""
    finish_reason: str = "stop"
    usage: dict[str, Any] | None = None


@dataclass
class Script:
    """Which reply each prompt gets: the first rule whose needle is in the prompt."""

    rules: list[tuple[str, Reply]] = field(default_factory=list)
    default: Reply = field(default_factory=lambda: Reply(content="I do not know."))
    rate_limit_first: int = 0
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply_for(self, prompt: str) -> Reply:
        return next((r for needle, r in self.rules if needle in prompt), self.default)


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def make_app(script: Script) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        with script.lock:
            script.requests.append(body)
            n = len(script.requests)
        if n <= script.rate_limit_first:
            return web.json_response(
                {"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "0"}
            )
        if script.delay_s:
            await asyncio.sleep(script.delay_s)
        prompt = "\n".join(str(m.get("content")) for m in body["messages"])
        reply = script.reply_for(prompt)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        head = {"id": f"x{n}", "object": "chat.completion.chunk", "model": body["model"]}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return _sse(
                {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            )

        await resp.write(chunk({"role": "assistant", "content": ""}))
        if reply.reasoning:
            await resp.write(chunk({"reasoning_content": reply.reasoning}))
        for piece in (
            reply.content[: len(reply.content) // 2],
            reply.content[len(reply.content) // 2 :],
        ):
            if piece:
                await resp.write(chunk({"content": piece}))
        await resp.write(chunk({}, reply.finish_reason))
        if reply.usage is not None and (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(_sse({**head, "choices": [], "usage": reply.usage}))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


@pytest.fixture
def scripted() -> Iterator[tuple[str, Script]]:
    """A scripted server in a thread (its own event loop) on a free port."""
    script = Script()
    with app_in_thread(make_app(script), name="scripted") as url:
        yield url, script


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
def data_dir(shared_dir: Path) -> Path:
    return shared_dir / "datasets"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(str(tmp_path / "eval.db"))
    yield s
    s.close()


def gsm8k_items(data_dir: Path, n: int) -> list[Item]:
    return get_benchmark("gsm8k").load(limit=n, seed=0, data_dir=data_dir)


def target_for(url: str, **changes: Any) -> EvalTarget:
    fields: dict[str, Any] = {
        "slug": "test/scripted",
        "base_url": url,
        "api_model_id": "scripted",
        "identity": url,
        "prices": PriceSheet(input=1.0, output=2.0, cache_read=0.5, source="test"),
    }
    fields.update(changes)
    return EvalTarget.model_validate(fields)


def run(store: Store, target: EvalTarget, config: EvalConfig, **kw: Any) -> Any:
    return asyncio.run(run_eval(store, target, config, **kw))


def usage(prompt: int, completion: int, *, reasoning: int = 0, cached: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "completion_tokens_details": {"reasoning_tokens": reasoning},
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def script_gsm8k(script: Script, items: list[Item], plan: list[str]) -> None:
    """plan[i]: ``right``, ``wrong``, ``truncated``, ``empty`` or ``reasoning_only``."""
    for item, kind in zip(items, plan, strict=True):
        needle = item.input["question"][:80]
        target = item.target
        reply = {
            "right": Reply(content=f"Step by step...\nAnswer: \\boxed{{{target}}}"),
            "wrong": Reply(content=f"Answer: \\boxed{{{int(target) + 1}}}"),
            "truncated": Reply(content=f"Let me think about {target}", finish_reason="length"),
            "empty": Reply(content=""),
            "reasoning_only": Reply(
                content="I am not sure.", reasoning=f"Answer: \\boxed{{{target}}}"
            ),
        }[kind]
        reply.usage = usage(100, 40, reasoning=10, cached=20)
        script.rules.append((needle, reply))


# --- tests ---------------------------------------------------------------------------------


def test_scores_items_stores_everything_and_costs_by_segment(
    scripted: tuple[str, Script], store: Store, data_dir: Path
) -> None:
    url, script = scripted
    items = gsm8k_items(data_dir, 5)
    script_gsm8k(script, items, ["right", "right", "wrong", "truncated", "reasoning_only"])
    config = EvalConfig(benchmarks=["gsm8k"], limit=5, data_dir=str(data_dir), concurrency=3)
    result = run(store, target_for(url), config)

    assert result.calls_made == 5 and result.errors == 0
    assert len(script.requests) == 5
    summary = load_summary(store, result.run_id)
    bench = summary.benchmarks[0]
    assert bench.items == 5 and bench.answers == 5
    assert bench.accuracy == pytest.approx(40.0)  # 2 right of 5: reasoning is never scored
    assert bench.ci_low is not None and bench.ci_high is not None
    assert bench.ci_low < 40.0 < bench.ci_high
    assert bench.no_answer == 1
    assert bench.no_answer_reasons == {"truncated (finish_reason=length)": 1}
    assert bench.extraction_failed == 1  # "I am not sure."
    assert bench.extraction_failure_rate == pytest.approx(1 / 4)
    assert summary.status == "done"
    assert summary.sample is True and summary.sample_note and "SAMPLE" in summary.sample_note

    # Tokens (server usage) and cost by segment at 1 / 2 / 0.5 USD per 1M tokens.
    t = summary.tokens
    assert (t.input, t.cached_input, t.output, t.reasoning, t.answer) == (500, 100, 200, 50, 150)
    c = summary.cost
    assert c.input == pytest.approx(400 * 1.0 / 1e6)
    assert c.cached_input == pytest.approx(100 * 0.5 / 1e6)
    assert c.reasoning == pytest.approx(50 * 2.0 / 1e6)
    assert c.answer == pytest.approx(150 * 2.0 / 1e6)
    assert c.total is not None and c.total == pytest.approx((400 + 50 + 100 + 300) / 1e6)
    assert c.per_task == pytest.approx(c.total / 5)

    # Every item is stored with prompt, response, reasoning, score and its call.
    with store.session() as session:
        rows = session.scalars(select(EvalItemRow).where(EvalItemRow.run_id == result.run_id)).all()
        assert len(rows) == 5
        by_id = {r.item_id: r for r in rows}
        reasoning_row = by_id[items[4].id]
        assert reasoning_row.reasoning_text and items[4].target in reasoning_row.reasoning_text
        assert reasoning_row.score == 0.0
        right = by_id[items[0].id]
        assert right.score == 1.0 and right.extracted == items[0].target and right.method
        assert right.messages[0]["content"].endswith(items[0].input["question"].strip())
        assert right.item["target"] == items[0].target
        assert right.request["temperature"] == 0.0
        assert right.cost_usd == pytest.approx((80 * 1 + 20 * 0.5 + 40 * 2) / 1e6)
        assert right.e2e_s is not None and right.ttft_s is not None
        call = session.get(CallRow, right.call_id)
        assert call is not None and call.run_id == result.run_id
        truncated = by_id[items[3].id]
        assert truncated.no_answer and truncated.finish_reason == "length"
        run_row = session.get(RunRow, result.run_id)
        assert run_row is not None and run_row.kind == "eval"
        assert run_row.config["benchmarks"]["gsm8k"]["version"] == "1"
        assert run_row.config["sampling"]["max_tokens"] == 16_384


def test_rerun_is_served_from_the_cache_with_zero_calls(
    scripted: tuple[str, Script], store: Store, data_dir: Path
) -> None:
    url, script = scripted
    items = gsm8k_items(data_dir, 3)
    script_gsm8k(script, items, ["right", "wrong", "right"])
    config = EvalConfig(benchmarks=["gsm8k"], limit=3, data_dir=str(data_dir))
    first = run(store, target_for(url), config)
    assert len(script.requests) == 3
    second = run(store, target_for(url), config)
    assert len(script.requests) == 3  # no new calls
    assert second.calls_made == 0 and second.from_cache == 3
    a, b = load_summary(store, first.run_id), load_summary(store, second.run_id)
    assert a.benchmarks[0].accuracy == b.benchmarks[0].accuracy == pytest.approx(200 / 3)
    assert b.from_cache == 3 and b.tokens.output == a.tokens.output

    # A changed sampling parameter is a different request: it is called again.
    run(store, target_for(url), config.model_copy(update={"temperature": 0.3}))
    assert len(script.requests) == 6


def test_repeats_are_separate_calls_averaged_per_item(
    scripted: tuple[str, Script], store: Store, data_dir: Path
) -> None:
    url, script = scripted
    items = gsm8k_items(data_dir, 2)
    script_gsm8k(script, items, ["right", "wrong"])
    config = EvalConfig(benchmarks=["gsm8k"], limit=2, repeats=3, data_dir=str(data_dir))
    result = run(store, target_for(url), config)
    assert len(script.requests) == 6
    summary = load_summary(store, result.run_id)
    assert summary.benchmarks[0].repeats == 3 and summary.benchmarks[0].items == 2
    assert summary.benchmarks[0].accuracy == pytest.approx(50.0)


def test_rate_limits_halve_concurrency_and_every_item_finishes(
    scripted: tuple[str, Script], store: Store, data_dir: Path
) -> None:
    url, script = scripted
    script.rate_limit_first = 12
    script.delay_s = 0.05
    items = gsm8k_items(data_dir, 10)
    script_gsm8k(script, items, ["right"] * 10)
    config = EvalConfig(
        benchmarks=["gsm8k"], limit=10, concurrency=8, data_dir=str(data_dir), retry_backoff_s=0.01
    )
    result = run(store, target_for(url), config)
    assert result.concurrency["rate_limited_responses"] == 12
    assert result.concurrency["lowest"] <= 4
    assert result.errors == 0
    summary = load_summary(store, result.run_id)
    assert summary.benchmarks[0].accuracy == pytest.approx(100.0)


async def test_adaptive_concurrency_halves_once_per_window_and_grows_back() -> None:
    limiter = AdaptiveConcurrency(8)
    tickets = []
    for _ in range(8):
        cm = limiter.slot()
        tickets.append((cm, await cm.__aenter__()))
    assert limiter.active == 8
    for cm, ticket in tickets:  # a burst of 429s sent at the same limit halves once
        ticket.outcome = "rate_limited"
        await cm.__aexit__(None, None, None)
    assert limiter.limit == 4 and limiter.rate_limited == 8
    for _ in range(4):
        async with limiter.slot() as ticket:
            ticket.outcome = "ok"
    assert limiter.limit == 5  # one window of successes: +1
    for _ in range(200):
        async with limiter.slot() as ticket:
            ticket.outcome = "ok"
    assert limiter.limit == 8  # never above the initial maximum


def test_rescore_regrades_stored_responses_without_calls(
    scripted: tuple[str, Script], store: Store, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, script = scripted
    items = gsm8k_items(data_dir, 3)
    script_gsm8k(script, items, ["right", "wrong", "truncated"])
    config = EvalConfig(benchmarks=["gsm8k"], limit=3, data_dir=str(data_dir))
    result = run(store, target_for(url), config)
    assert load_summary(store, result.run_id).benchmarks[0].accuracy == pytest.approx(100 / 3)

    # A "scorer change": every answered response now scores 1 under version 2.
    original = get_benchmark("gsm8k")

    def generous(item: Item, text: str) -> ItemScore:
        return ItemScore(score=1.0, extracted="any", method="generous")

    changed = dataclasses.replace(original, score=generous, version="2")
    monkeypatch.setitem(registry._registry, "gsm8k", changed)
    report = rescore_run(store, result.run_id)
    assert len(script.requests) == 3  # no calls
    assert report.rescored == 3 and report.changed == 2  # a score, and an extraction
    assert report.versions == {"gsm8k": ["1", "2"]}
    assert report.prompt_changed == 0
    bench = report.summary.benchmarks[0]
    assert bench.accuracy == pytest.approx(200 / 3)  # truncated stays "no answer"
    assert bench.no_answer == 1 and bench.scorer_versions == ["2"]
    assert load_summary(store, result.run_id).benchmarks[0].accuracy == pytest.approx(200 / 3)


def test_max_tokens_fits_the_served_context(
    scripted: tuple[str, Script], store: Store, data_dir: Path
) -> None:
    url, script = scripted
    target = target_for(url, context_limit=8192)
    config = EvalConfig(benchmarks=["gsm8k"], limit=2, data_dir=str(data_dir))
    run(store, target, config)
    for body in script.requests:
        estimate = estimate_prompt_tokens(body["messages"])
        assert body["max_tokens"] == 8192 - estimate
        assert body["max_tokens"] + estimate <= 8192
    assert fit_max_tokens([{"role": "user", "content": "x " * 9000}], 100, 8192) is None
    assert fit_max_tokens([{"role": "user", "content": "hi"}], 100, None) == 100


def test_failed_calls_are_reported_and_retried_on_resume(
    scripted: tuple[str, Script], store: Store, data_dir: Path
) -> None:
    url, script = scripted
    items = gsm8k_items(data_dir, 3)
    script_gsm8k(script, items, ["right", "right", "right"])
    script.rate_limit_first = 100  # every request is rate limited
    config = EvalConfig(
        benchmarks=["gsm8k"],
        limit=3,
        data_dir=str(data_dir),
        max_rate_limit_retries=1,
        retry_backoff_s=0.0,
    )
    first = run(store, target_for(url), config)
    assert first.errors == 3
    summary = load_summary(store, first.run_id)
    assert summary.status == "incomplete" and summary.errors == 3
    assert summary.benchmarks[0].accuracy is None
    assert any("retried on resume" in n for n in summary.notes)

    script.rate_limit_first = 0
    before = len(script.requests)
    resumed = run(store, target_for(url), EvalConfig(benchmarks=[]), resume_run_id=first.run_id)
    assert resumed.run_id == first.run_id and resumed.calls_made == 3
    assert len(script.requests) == before + 3
    summary = load_summary(store, first.run_id)
    assert summary.status == "done" and summary.errors == 0
    assert summary.benchmarks[0].accuracy == pytest.approx(100.0)


def test_run_summary_has_incomplete_indices(
    scripted: tuple[str, Script], store: Store, data_dir: Path
) -> None:
    url, _ = scripted
    config = EvalConfig(benchmarks=["gsm8k", "gpqa"], limit=2, data_dir=str(data_dir))
    result = run(store, target_for(url), config)
    summary = load_summary(store, result.run_id)
    assert [b.key for b in summary.benchmarks] == ["gsm8k", "gpqa_diamond"]
    atlas = next(i for i in summary.indices if i.definition == "atlas-v1")
    assert atlas.status == "incomplete" and atlas.value is None
    assert atlas.components == {"gsm8k": "gsm8k", "gpqa_diamond": "gpqa_diamond"}
    assert "mmlu_pro" in atlas.missing and atlas.sample
    v3 = next(i for i in summary.indices if i.definition == "aa-v3")
    assert v3.components == {"gpqa": "gpqa_diamond"}


def test_unknown_benchmark_suggests_the_closest(scripted: tuple[str, Script], store: Store) -> None:
    url, _ = scripted
    with pytest.raises(NotFoundError) as info:
        run(store, target_for(url), EvalConfig(benchmarks=["gsm8x"]))
    assert "gsm8k" in (info.value.hint or "")


def test_sampling_defaults_by_model_kind() -> None:
    plain = target_for("http://x/v1", reasoning=False, reasoning_known=True)
    s = sampling_for(plain)
    assert (s.temperature, s.max_tokens) == (0.0, 16_384)
    thinking = target_for("http://x/v1", reasoning=True, reasoning_known=True, max_output=64_000)
    s = sampling_for(thinking)
    assert (s.temperature, s.max_tokens) == (0.6, 64_000)
    s = sampling_for(thinking, temperature=1.0, max_tokens=1000)
    assert (s.temperature, s.max_tokens) == (1.0, 1000)
    unknown = target_for("http://x/v1", reasoning=True, reasoning_known=True)
    assert sampling_for(unknown).max_tokens == 16_384


def test_resolve_target_from_the_catalog() -> None:
    local = resolve_target(None)
    assert local.slug == "local/smollm2-135m" and local.managed == "llama-cpp"
    assert local.context_limit == 8192 and not local.reasoning
    assert "{port}" in local.identity  # stable across restarts of the managed server
    assert local.prices.self_hosted
    adhoc = resolve_target(None, base_url="http://h:1/v1", model="m")
    assert adhoc.prices.per_token("input") is None  # unknown, never free
    with pytest.raises(UserError):
        resolve_target(None, base_url="http://h:1/v1")


def test_wilson_interval() -> None:
    low, high = wilson_interval(0.0, 2)
    assert low == 0.0 and high == pytest.approx(0.6576, abs=1e-3)
    low, high = wilson_interval(0.5, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)


def test_unknown_price_is_unknown_cost_never_zero() -> None:
    from modelatlas.evals.cost import TokenCounts, cost_of

    tokens = TokenCounts(input=1000, cached_input=0, output=500, reasoning=100)
    no_output_price = cost_of(tokens, PriceSheet(input=1.0, output=0.0))  # 0 means unknown
    assert no_output_price.input == pytest.approx(1000 / 1e6)
    assert no_output_price.reasoning is None and no_output_price.answer is None
    assert no_output_price.total is None
    assert no_output_price.unknown_prices == ["reasoning", "answer"]
    # Segments without tokens cost 0 whatever their price; self-hosted costs 0 per token.
    assert cost_of(tokens, PriceSheet(input=1.0, output=2.0)).cached_input == 0.0
    assert cost_of(tokens, PriceSheet(self_hosted=True)).total == 0.0
