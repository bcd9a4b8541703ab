"""Math answers: extraction, integer fast path, math-verify in a worker, timeouts, judge."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from modelatlas.evals.core import ChatMessage, ItemScore
from modelatlas.evals.scorers.math import (
    JudgeSpec,
    MathVerifier,
    apply_equality_verdict,
    check_equality,
    equality_cache_key,
    extract_math_answer,
    math_messages,
    parse_equality_verdict,
    parse_integer,
    score_math,
)


@pytest.fixture(scope="module")
def verifier() -> Iterator[MathVerifier]:
    with MathVerifier(workers=1) as v:
        yield v


@pytest.mark.parametrize(
    ("text", "answer", "method"),
    [
        ("so $x = \\boxed{\\dfrac{3}{4}}$.", "\\dfrac{3}{4}", "boxed"),
        (
            "\\boxed{\\frac{1}{\\sqrt{2}}} first, then \\boxed{x^{2}+\\frac{1}{2}}",
            "x^{2}+\\frac{1}{2}",
            "boxed",
        ),
        (
            "Answer: \\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}",
            "\\left( 3, \\frac{\\pi}{2} \\right)",
            "boxed",
        ),
        ("**Final Answer:** $73$", "73", "answer_line"),
        ("Final Answer:\n\n$$ 73 $$", "73", "answer_line"),
        ("Answer: \\(\\frac{1}{2}\\).", "\\frac{1}{2}", "answer_line"),
        ("The final answer is 1,234.", "1,234", "answer_is"),
        ("Adding them up, the total is **73**.", "73", "bold_final"),
        ("nothing to see", None, None),
        ("\\boxed{never closed", None, None),
    ],
)
def test_extraction_cascade(text: str, answer: str | None, method: str | None) -> None:
    found = extract_math_answer(text)
    assert (found.answer, found.method) == (answer, method)


def test_last_line_number_only_for_integer_answers() -> None:
    text = "She has 16 - 3 - 4 = 9 eggs.\nShe makes 9 * 2 = 18 dollars"
    assert extract_math_answer(text).answer is None
    assert extract_math_answer("so she makes 18 dollars", integer=True).answer == "18"
    assert extract_math_answer(text, integer=True).answer is None  # two numbers: ambiguous


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234", 1234),
        ("1{,}234", 1234),
        ("$1234", 1234),
        ("\\$1,234.00", 1234),
        ("1234.0", 1234),
        ("-7", -7),
        ("\u22127", -7),
        ("025", 25),
        ("18 dollars", 18),
        ("12 \\text{ cm}", 12),
        ("18\\%", 18),
        ("**73**", 73),
        ("12.5", None),
        ("\\frac{1}{2}", None),
        ("3x", None),
    ],
)
def test_integer_normalisation(text: str, value: int | None) -> None:
    assert parse_integer(text) == value


def test_integer_fast_path_does_not_need_a_worker() -> None:
    class Refuse(MathVerifier):
        def check(self, gold: str, answer: str) -> object:  # type: ignore[override]
            raise AssertionError("math-verify should not be called")

    with Refuse() as refuse:
        for text in ("Answer: \\boxed{1,234}", "**Answer:** $1234", "The final answer is 1234.0"):
            result = score_math(text, "1234", integer=True, verifier=refuse)
            assert result.score == 1.0, text
            assert result.details["compare"] == "integer"
        assert score_math("Answer: \\boxed{025}", "25", integer=True, verifier=refuse).score == 1
        assert score_math("Answer: \\boxed{24}", "25", integer=True, verifier=refuse).score == 0


@pytest.mark.parametrize(
    ("text", "gold"),
    [
        ("Answer: 0.5", "\\frac{1}{2}"),
        ("Answer: \\boxed{\\dfrac{3}{4}}", "\\frac34"),
        ("Answer: \\boxed{\\frac{\\sqrt{18}}{2}}", "\\frac{3\\sqrt{2}}{2}"),
        ("Answer: \\boxed{(3, \\frac{\\pi}{2})}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
        ("Answer: \\boxed{[-2, 7]}", "[-2,7]"),
        ("Answer: \\boxed{\\frac{50}{2}}", "25"),  # integer target, non-integer form
        ("Answer: \\boxed{x^2+2x+1}", "(x+1)^2"),
        ("Answer: \\boxed{\\text{(C)}}", "\\text{(C)}"),
    ],
)
def test_math_verify_equivalences(text: str, gold: str, verifier: MathVerifier) -> None:
    result = score_math(text, gold, verifier=verifier)
    assert result.score == 1.0, result
    assert result.details["compare"] == "math_verify"


@pytest.mark.parametrize(
    ("text", "gold"),
    [("Answer: 0.5", "\\frac{1}{3}"), ("Answer: \\boxed{(3, \\pi)}", "(3, \\frac{\\pi}{2})")],
)
def test_math_verify_differences(text: str, gold: str, verifier: MathVerifier) -> None:
    result = score_math(text, gold, verifier=verifier)
    assert (result.score, result.reason) == (0.0, "wrong answer")


def test_a_hanging_comparison_is_killed_and_scores_zero() -> None:
    """9^(9^9) makes sympy spin for seconds; the worker is killed at the hard limit and the
    next comparison gets a fresh worker."""
    with MathVerifier(workers=1, timeout_s=1.0, inner_timeout_s=30) as slow:
        slow.check("1", "1")  # start the worker outside the timed part
        started = time.monotonic()
        result = score_math("Answer: \\boxed{9^{9^{9}}}", "1", verifier=slow)
        assert time.monotonic() - started < 10
        assert (result.score, result.reason) == (0.0, "verify timeout")
        assert result.extracted == "9^{9^{9}}"
        assert slow.check("\\frac{1}{2}", "0.5").equal  # a new worker took over


def test_math_verify_own_timeout_is_reported_as_verify_timeout() -> None:
    with MathVerifier(workers=1, timeout_s=60, inner_timeout_s=1) as v:
        result = score_math("Answer: \\boxed{9^{9^{9}}}", "1", verifier=v)
    assert (result.score, result.reason) == (0.0, "verify timeout")


async def test_async_check(verifier: MathVerifier) -> None:
    assert (await verifier.acheck("\\frac{1}{2}", "0.5")).equal


def test_prompt_asks_for_a_boxed_answer_line() -> None:
    [message] = math_messages("What is $1+1$?", hint="The answer is an integer.")
    assert "\\boxed{}" in message["content"]
    assert "'Answer: \\boxed{ANSWER}'" in message["content"]
    assert "The answer is an integer." in message["content"]
    assert message["content"].endswith("What is $1+1$?")


# --- LLM equality check ----------------------------------------------------------------------

JUDGE = JudgeSpec(endpoint="openai-api", model="gpt-4.1-mini-2025-04-14")


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("Yes", True),
        ("no.", False),
        ("**Yes**", True),
        ("", None),
        ("Maybe", None),
        ("Yes or no", None),
    ],
)
def test_verdict_parser(text: str, verdict: bool | None) -> None:
    assert parse_equality_verdict(text) is verdict


def test_cache_key_covers_judge_and_answers() -> None:
    key = equality_cache_key(JUDGE, "1/2", "0.5")
    assert key == equality_cache_key(JUDGE, "1/2", "0.5")
    assert key != equality_cache_key(JUDGE, "1/2", "0.50")
    assert key != equality_cache_key(
        JudgeSpec(JUDGE.endpoint, JUDGE.model, temperature=0.7), "1/2", "0.5"
    )


def test_unparseable_verdict_excludes_the_item() -> None:
    wrong = ItemScore(score=0.0, extracted="0.5", method="boxed", reason="wrong answer")
    assert apply_equality_verdict(wrong, "Yes", JUDGE).score == 1.0
    assert apply_equality_verdict(wrong, "No", JUDGE).score == 0.0
    excluded = apply_equality_verdict(wrong, "I cannot tell", JUDGE)
    assert excluded.excluded and excluded.reason == "unparseable judge verdict"


async def test_check_equality_asks_only_when_useful() -> None:
    class FakeChecker:
        judge = JUDGE
        calls = 0

        async def complete(self, messages: list[ChatMessage]) -> str:
            FakeChecker.calls += 1
            assert "Expression 1: \\frac{1}{2}" in messages[0]["content"]
            return "Yes"

    checker = FakeChecker()
    wrong = ItemScore(score=0.0, extracted="one half", method="answer_line", reason="wrong answer")
    assert (await check_equality(wrong, "\\frac{1}{2}", checker)).score == 1.0
    right = ItemScore(score=1.0, extracted="0.5", method="boxed")
    missing = ItemScore(score=0.0, no_answer=True, reason="empty answer")
    assert await check_equality(right, "\\frac{1}{2}", checker) == right
    assert await check_equality(missing, "\\frac{1}{2}", checker) == missing
    assert FakeChecker.calls == 1
