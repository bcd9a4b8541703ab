"""The optional LLM equality judge, wired into the runner, against real HTTP servers.

Two small aiohttp servers on 127.0.0.1 (each in a thread with its own event loop) answer
OpenAI-style streaming chat completions: one plays the evaluated model (a scripted answer per
MATH-500 problem), the other the judge (a scripted verdict per answer it is asked about). Both
record every request they received, so the tests can count calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from modelatlas.endpoints.sim import app_in_thread
from modelatlas.errors import UserError
from modelatlas.evals.core import Item, ItemScore
from modelatlas.evals.cost import PriceSheet
from modelatlas.evals.registry import get_benchmark
from modelatlas.evals.runner import (
    EvalConfig,
    EvalTarget,
    JudgeSettings,
    judge_allowed,
    load_summary,
    rescore_run,
    resolve_judge,
    run_eval,
)
from modelatlas.evals.scorers.math import EQUALITY_PROMPT_VERSION, needs_equality_check
from modelatlas.store.base import Store, open_store
from modelatlas.store.eval_tables import EvalItemRow
from modelatlas.store.run_tables import CallRow, RunRow

# --- scripted servers ----------------------------------------------------------------------

Answer = Callable[[str], tuple[int, str]]
"""prompt text -> (HTTP status, answer content)."""


@dataclass
class Server:
    url: str
    answer: Answer
    requests: list[dict[str, Any]] = field(default_factory=list)


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _app(server: Server) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        server.requests.append(body)
        prompt = "\n".join(str(m.get("content")) for m in body["messages"])
        status, content = server.answer(prompt)
        if status != 200:
            return web.json_response({"error": {"message": "judge is down"}}, status=status)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        head = {"id": f"x{len(server.requests)}", "object": "chat.completion.chunk"}
        head["model"] = body["model"]
        choice = {"index": 0, "delta": {"role": "assistant", "content": content}}
        await resp.write(_sse({**head, "choices": [{**choice, "finish_reason": None}]}))
        await resp.write(
            _sse({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        )
        usage = {"prompt_tokens": 50, "completion_tokens": 2, "total_tokens": 52}
        await resp.write(_sse({**head, "choices": [], "usage": usage}))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], Server]]:
    """Start scripted servers on free ports; all are stopped after the test."""
    with contextlib.ExitStack() as stack:

        def start(answer: Answer) -> Server:
            server = Server(url="", answer=answer)
            server.url = stack.enter_context(app_in_thread(_app(server), name="scripted"))
            return server

        yield start


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(str(tmp_path / "judge.db"))
    yield s
    s.close()


@pytest.fixture
def data_dir(shared_dir: Path) -> Path:
    return shared_dir / "datasets"


def target(url: str, slug: str, model: str, **changes: Any) -> EvalTarget:
    fields: dict[str, Any] = {
        "slug": slug,
        "base_url": url,
        "api_model_id": model,
        "identity": url,
        "prices": PriceSheet(input=1.0, output=2.0, source=f"test:{slug}"),
    }
    return EvalTarget.model_validate({**fields, **changes})


def run(store: Store, tgt: EvalTarget, config: EvalConfig, **kw: Any) -> Any:
    return asyncio.run(run_eval(store, tgt, config, **kw))


# The model's answers: math-verify cannot read the three words, so the judge is asked.
PLAN = ["right", "equivalent", "unparseable", "not_equivalent"]
WORDS = {"equivalent": "seventy", "unparseable": "banana", "not_equivalent": "cherry"}
VERDICTS = {"seventy": "Yes", "banana": "It depends on the convention.", "cherry": "No."}


def model_answers(items: list[Item]) -> Answer:
    def answer(prompt: str) -> tuple[int, str]:
        for item, kind in zip(items, PLAN, strict=True):
            if item.input["problem"].strip()[:80] in prompt:
                if kind == "right":
                    return 200, f"Working...\nAnswer: \\boxed{{{item.target}}}"
                return 200, f"Working...\nAnswer: \\boxed{{\\text{{{WORDS[kind]}}}}}"
        return 200, "I do not know."

    return answer


def judge_answers(prompt: str) -> tuple[int, str]:
    for word, verdict in VERDICTS.items():
        if f"Expression 2: \\text{{{word}}}" in prompt:
            return 200, verdict
    return 200, "No"


def setup(
    serve: Callable[[Answer], Server], data_dir: Path, judge: Answer = judge_answers
) -> tuple[Server, Server, list[Item], JudgeSettings]:
    items = get_benchmark("math500").load(limit=4, seed=0, data_dir=data_dir)
    model = serve(model_answers(items))
    judge_server = serve(judge)
    settings = JudgeSettings(target=target(judge_server.url, "test/judge", "judge-model"))
    return model, judge_server, items, settings


def config(data_dir: Path, settings: JudgeSettings | None, **kw: Any) -> EvalConfig:
    return EvalConfig(benchmarks=["math500"], limit=4, data_dir=str(data_dir), judge=settings, **kw)


INTEGER = {"compare": "integer"}
MATH_VERIFY = {"compare": "math_verify"}

# --- tests ---------------------------------------------------------------------------------


def test_judge_flips_excludes_and_reports_its_own_tokens_and_cost(
    serve: Callable[[Answer], Server], store: Store, data_dir: Path
) -> None:
    model, judge, items, settings = setup(serve, data_dir)
    result = run(store, target(model.url, "test/model", "scripted"), config(data_dir, settings))
    assert result.calls_made == 4 and result.errors == 0
    assert result.judge_calls_made == 3 and len(judge.requests) == 3  # never for a match

    # The judge is pinned: temperature 0, its model id, small max_tokens, one user message.
    for body in judge.requests:
        assert body["model"] == "judge-model" and body["temperature"] == 0.0
        assert body["max_tokens"] == 16
        assert "Expression 1:" in body["messages"][0]["content"]

    summary = load_summary(store, result.run_id)
    bench = summary.benchmarks[0]
    # right + judged equivalent out of 3 counted items; the unparseable one is excluded.
    assert bench.items == 3 and bench.accuracy == pytest.approx(200 / 3)
    assert bench.excluded == 1 and bench.judge_unparseable == 1
    assert bench.judge_checked == 3 and bench.judge_equivalent == 1
    assert summary.judge_unparseable == 1
    assert any("verdict could not be read" in n for n in summary.notes)
    j = summary.judge
    assert j is not None
    assert (j.endpoint, j.model, j.prompt_version) == ("test/judge", "judge-model", "1")
    assert (j.checked, j.equivalent, j.not_equivalent, j.unparseable, j.errors) == (3, 1, 1, 1, 0)
    assert (j.calls, j.from_cache) == (3, 0) and j.benchmarks == ["math500"]
    # The judge's tokens and cost are its own; the model's are unchanged by it.
    assert (j.tokens.input, j.tokens.output) == (150, 6)
    assert j.cost.total == pytest.approx((150 * 1.0 + 6 * 2.0) / 1e6)
    assert summary.tokens.input == 200 and summary.tokens.output == 8
    assert summary.cost.total == pytest.approx((200 * 1.0 + 8 * 2.0) / 1e6)
    dumped = summary.model_dump(mode="json")
    assert dumped["judge_unparseable"] == 1 and dumped["judge"]["unparseable"] == 1

    with store.session() as session:
        run_row = session.get(RunRow, result.run_id)
        assert run_row is not None
        pinned = run_row.config["judge"]
        assert pinned["endpoint"] == "test/judge" and pinned["model"] == "judge-model"
        assert pinned["prompt_version"] == EQUALITY_PROMPT_VERSION
        assert pinned["temperature"] == 0.0
        rows = {
            r.item_id: r
            for r in session.scalars(select(EvalItemRow).where(EvalItemRow.run_id == run_row.id))
        }
        flipped = rows[items[1].id]
        assert flipped.score == 1.0 and flipped.method == "boxed+judge"
        assert flipped.judge["outcome"] == "equivalent" and flipped.judge["verdict"] == "Yes"
        excluded = rows[items[2].id]
        assert excluded.excluded and excluded.reason == "unparseable judge verdict"
        assert rows[items[3].id].score == 0.0 and not rows[items[3].id].excluded
        assert rows[items[0].id].judge == {}
        judge_call = session.get(CallRow, flipped.judge["call_id"])
        assert judge_call is not None and judge_call.endpoint_slug == "test/judge"


def test_second_run_and_rescore_make_no_judge_calls(
    serve: Callable[[Answer], Server], store: Store, data_dir: Path
) -> None:
    model, judge, _, settings = setup(serve, data_dir)
    tgt = target(model.url, "test/model", "scripted")
    first = run(store, tgt, config(data_dir, settings))
    assert len(judge.requests) == 3

    second = run(store, tgt, config(data_dir, settings))
    assert len(model.requests) == 4 and len(judge.requests) == 3  # all from the cache
    assert second.calls_made == 0 and second.judge_calls_made == 0
    assert second.judge_from_cache == 3
    a, b = load_summary(store, first.run_id), load_summary(store, second.run_id)
    assert a.benchmarks[0].accuracy == b.benchmarks[0].accuracy
    assert b.judge is not None and (b.judge.calls, b.judge.from_cache) == (0, 3)
    assert b.judge_unparseable == 1

    report = rescore_run(store, first.run_id)
    assert len(judge.requests) == 3 and len(model.requests) == 4
    assert (report.judge_calls, report.judge_from_cache) == (0, 3)
    assert report.summary.benchmarks[0].accuracy == pytest.approx(200 / 3)
    assert report.summary.judge_unparseable == 1
    assert report.summary.judge is not None and report.summary.judge.calls == 3  # provenance kept

    # Without a judge, nothing changes: the equivalent answer is wrong, nothing is excluded.
    plain = run(store, tgt, config(data_dir, None))
    assert len(judge.requests) == 3
    summary = load_summary(store, plain.run_id)
    assert summary.judge is None and summary.judge_unparseable == 0
    assert summary.benchmarks[0].accuracy == pytest.approx(25.0)
    assert summary.benchmarks[0].excluded == 0


def test_failed_judge_call_excludes_the_item_and_rescore_asks_again(
    serve: Callable[[Answer], Server], store: Store, data_dir: Path
) -> None:
    down = {"on": True}

    def flaky(prompt: str) -> tuple[int, str]:
        return (500, "") if down["on"] else judge_answers(prompt)

    model, judge, _, settings = setup(serve, data_dir, judge=flaky)
    tgt = target(model.url, "test/model", "scripted")
    result = run(store, tgt, config(data_dir, settings, max_attempts=1))
    summary = load_summary(store, result.run_id)
    assert summary.judge is not None and summary.judge.errors == 3
    assert summary.benchmarks[0].excluded == 3 and summary.benchmarks[0].items == 1
    assert any("judge call failed" in n for n in summary.notes)

    down["on"] = False
    before = len(judge.requests)
    report = rescore_run(store, result.run_id)
    assert report.judge_calls == 3 and len(judge.requests) == before + 3
    assert report.summary.benchmarks[0].accuracy == pytest.approx(200 / 3)
    assert report.summary.judge is not None and report.summary.judge.errors == 0


def test_judge_only_where_the_benchmark_allows_it() -> None:
    assert judge_allowed(get_benchmark("math500")) and judge_allowed(get_benchmark("aime25"))
    assert not judge_allowed(get_benchmark("gpqa")) and not judge_allowed(get_benchmark("mmlu_pro"))
    with pytest.raises(UserError):
        resolve_judge(None)
    adhoc = resolve_judge(base_url="http://127.0.0.1:9/v1", model="j", api_key_env=None)
    assert adhoc.spec().model == "j" and adhoc.spec().temperature == 0.0
    # An integer comparison (GSM8K, AIME) is exact: never sent to the judge.
    assert not needs_equality_check(ItemScore(score=0.0, extracted="7", details=INTEGER))
    assert needs_equality_check(ItemScore(score=0.0, extracted="x", details=MATH_VERIFY))
