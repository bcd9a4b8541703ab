"""Per-run index confidence intervals: a stratified bootstrap over the run's item credits.

A small aiohttp server on 127.0.0.1 answers each GSM8K / GPQA item as scripted; the run's
summary is then computed over tiny index definitions built with ``parse_definition``.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from rich.console import Console

from modelatlas.endpoints.sim import app_in_thread
from modelatlas.evals.commands import render_summary
from modelatlas.evals.core import Item
from modelatlas.evals.cost import PriceSheet
from modelatlas.evals.registry import get_benchmark
from modelatlas.evals.runner import EvalConfig, EvalTarget, load_summary, run_eval
from modelatlas.index.compute import bootstrap_ci
from modelatlas.index.definitions import IndexDefinition, parse_definition
from modelatlas.store.base import Store, open_store


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


@pytest.fixture
def server() -> Iterator[tuple[str, list[Callable[[str], str]]]]:
    """A streaming chat server whose answer is ``answers[0](prompt)`` (set by the test)."""
    answers: list[Callable[[str], str]] = [lambda prompt: "I do not know."]

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        prompt = "\n".join(str(m.get("content")) for m in body["messages"])
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        head = {"id": "x", "object": "chat.completion.chunk", "model": body["model"]}
        delta = {"role": "assistant", "content": answers[0](prompt)}
        await resp.write(_sse({**head, "choices": [{"index": 0, "delta": delta}]}))
        await resp.write(
            _sse({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        )
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    with app_in_thread(app, name="scripted") as url:
        yield url, answers


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(str(tmp_path / "ci.db"))
    yield s
    s.close()


def definition(name: str, keys: list[str]) -> IndexDefinition:
    return parse_definition(
        {
            "name": name,
            "title": f"Tiny {name}",
            "version": "1",
            "date": "2026-01",
            "description": "A test index.",
            "aggregation": "mean",
            "components": [{"key": k, "name": k, "category": "test"} for k in keys],
        },
        origin="test",
    )


TINY = definition("tiny", ["gsm8k", "gpqa_diamond"])
PARTIAL = definition("partial", ["gsm8k", "mmlu_pro"])


def scripted_answers(gsm8k: list[Item], gpqa: list[Item]) -> Callable[[str], str]:
    """GSM8K: the first half right; GPQA: every third right."""

    def answer(prompt: str) -> str:
        for i, item in enumerate(gsm8k):
            if item.input["question"][:80] in prompt:
                value = int(item.target) + (0 if i < len(gsm8k) // 2 else 1)
                return f"Answer: \\boxed{{{value}}}"
        for i, item in enumerate(gpqa):
            if item.input["question"][:80] in prompt:
                wrong = next(x for x in "ABCD" if x != item.target)
                return f"Answer: {item.target if i % 3 == 0 else wrong}"
        return "I do not know."

    return answer


def test_index_ci_for_a_complete_definition_and_none_for_an_incomplete_one(
    server: tuple[str, list[Callable[[str], str]]], store: Store, shared_dir: Path
) -> None:
    url, answers = server
    data_dir = shared_dir / "datasets"
    gsm8k = get_benchmark("gsm8k").load(limit=6, seed=0, data_dir=data_dir)
    gpqa = get_benchmark("gpqa").load(limit=6, seed=0, data_dir=data_dir)
    answers[0] = scripted_answers(gsm8k, gpqa)
    tgt = EvalTarget(
        slug="test/ci",
        base_url=url,
        api_model_id="scripted",
        identity=url,
        prices=PriceSheet(source="test"),
    )
    config = EvalConfig(benchmarks=["gsm8k", "gpqa"], limit=6, data_dir=str(data_dir))
    result = asyncio.run(run_eval(store, tgt, config))
    summary = load_summary(store, result.run_id, definitions=[TINY, PARTIAL])

    accuracies = {b.key: b.accuracy for b in summary.benchmarks}
    assert accuracies == {"gsm8k": pytest.approx(50.0), "gpqa_diamond": pytest.approx(100 / 3)}
    tiny, partial = summary.indices
    assert tiny.status == "complete" and tiny.value == pytest.approx((50 + 100 / 3) / 2)
    assert tiny.ci_low is not None and tiny.ci_high is not None
    assert tiny.ci_low < tiny.value < tiny.ci_high
    assert tiny.ci_method and "bootstrap" in tiny.ci_method and tiny.ci_note is None
    # The same numbers as the index module's stratified bootstrap over the item credits.
    expected = bootstrap_ci(
        TINY,
        {"gsm8k": [1.0] * 3 + [0.0] * 3, "gpqa_diamond": [1.0, 0, 0, 1, 0, 0]},
        n_boot=1000,
        seed=0,
    )
    assert expected.index is not None
    assert (tiny.ci_low, tiny.ci_high) == pytest.approx((expected.index.low, expected.index.high))
    # Per-benchmark intervals stay Wilson.
    assert all("Wilson" in b.ci_method for b in summary.benchmarks)

    assert partial.status == "incomplete" and partial.value is None
    assert partial.ci_low is None and partial.ci_high is None and partial.ci_method is None
    assert partial.ci_note is not None and "incomplete" in partial.ci_note
    assert "mmlu_pro" in partial.ci_note

    dumped = summary.model_dump(mode="json")
    assert dumped["indices"][0]["ci_low"] == pytest.approx(tiny.ci_low)
    assert dumped["indices"][1]["ci_note"] == partial.ci_note

    out = io.StringIO()
    render_summary(summary, Console(file=out, width=200, highlight=False))
    text = out.getvalue()
    assert f"95% bootstrap CI {tiny.ci_low:.1f}-{tiny.ci_high:.1f}" in text
    assert "incomplete - missing mmlu_pro" in text and "no CI" in text

    # The built-in definitions are incomplete for this run: no value, no interval.
    builtin = load_summary(store, result.run_id)
    assert builtin.indices and all(i.ci_low is None and i.ci_note for i in builtin.indices)
