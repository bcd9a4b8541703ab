"""Multiple-choice answer extraction: the cascade, its methods, and the failure report."""

from __future__ import annotations

import pytest

from modelatlas.evals.core import ItemScore, summarize_extraction
from modelatlas.evals.scorers.mcq import extract_choice, mcq_messages, score_choice

OPTIONS = ["10^-8 eV", "10^-11 eV", "10^-9 eV", "10^-4 eV"]


@pytest.mark.parametrize(
    ("text", "letter", "method"),
    [
        ("Answer: B", "B", "answer_line"),
        ("**Answer:** B", "B", "answer_line"),
        ("**Answer: B**", "B", "answer_line"),
        ("**Final Answer**: B", "B", "answer_line"),
        ("Answer: (B)", "B", "answer_line"),
        ("Answer: $\\boxed{B}$", "B", "answer_line"),
        ("Final Answer: \\textbf{(C)}", "C", "answer_line"),
        ("Answer: \\(B\\)", "B", "answer_line"),
        ("Answer: Option D", "D", "answer_line"),
        ("Answer: D) 10^-4 eV", "D", "answer_line"),
        ("Answer:\n\n**C**", "C", "answer_line"),
        ("Answer\uff1aB", "B", "answer_line"),
        ("answer: (b)", "B", "answer_line"),
        ("Answer: 10^-4 eV", "D", "answer_option_text"),
        ("so the energy difference is \\boxed{C}", "C", "boxed"),
        ("The final answer is $\\boxed{\\text{D}}$.", "D", "boxed"),
        ("The answer is B.", "B", "answer_is"),
        ("Thus the correct answer is **(C)**", "C", "answer_is"),
        ("Reasoning ...\nB", "B", "final_letter_line"),
        ("Reasoning ...\n**B.**", "B", "final_letter_line"),
        ("Reasoning ...\n\\textbf{B}", "B", "final_letter_line"),
        ("So it's **C**.\n\nHope this helps.", "C", "bold_letter"),
    ],
)
def test_cascade_finds_the_letter(text: str, letter: str, method: str) -> None:
    found = extract_choice(text, "ABCD", OPTIONS)
    assert (found.letter, found.method) == (letter, method)


@pytest.mark.parametrize(
    "text",
    [
        "I am not sure.",
        "Answer: $LETTER",  # the template echoed back
        "Answer: E",  # not one of the options
        "Answer: a cat",  # a lower-case article, not a letter
        "Answer: I think it is the second one.",  # the pronoun I
        "The answer is Approximately 5 eV",
        "**A)** foo\n**B)** bar\n\nIt is the second.",  # bold re-listing of the options
    ],
)
def test_cascade_fails_rather_than_guessing(text: str) -> None:
    found = extract_choice(text, "ABCD", OPTIONS)
    assert found.letter is None and found.method is None


def test_reasoning_like_text_last_answer_wins() -> None:
    text = (
        "Let me consider each option.\n"
        "Answer: A would follow if the lifetimes were equal, but they are not.\n"
        "Hmm, the uncertainty gives about 10^-7 eV, so B and C are too small.\n"
        "Answer: (C)? No: C is 10^-9 eV, still below the resolution.\n"
        "Therefore only 10^-4 eV works.\n\n"
        "**Answer:** D"
    )
    assert extract_choice(text, "ABCD").letter == "D"


def test_ten_options_and_the_letter_i() -> None:
    letters = "ABCDEFGHIJ"
    assert extract_choice("Answer: I", letters).letter == "I"
    assert extract_choice("Answer: J", letters).letter == "J"
    assert extract_choice("Answer: I. Option I matches the definition.", letters).letter == "I"
    assert extract_choice("Answer: J", "ABCD").letter is None


def test_score_and_failure_report() -> None:
    right = score_choice("Answer: B", "B", "ABCD")
    wrong = score_choice("Answer: C", "B", "ABCD")
    failed = score_choice("no idea", "B", "ABCD")
    assert (right.score, right.extracted, right.method) == (1.0, "B", "answer_line")
    assert (wrong.score, wrong.reason) == (0.0, "wrong answer")
    assert failed.score == 0.0 and failed.extraction_failed and not failed.no_answer
    missing = ItemScore(score=0.0, no_answer=True, reason="empty answer")
    summary = summarize_extraction([right, wrong, failed, missing])
    assert summary.total == 4
    assert summary.answered == 3
    assert summary.no_answer == 1
    assert summary.extraction_failed == 1
    assert summary.failure_rate == pytest.approx(1 / 3)
    assert summary.by_method == {"answer_line": 2}
    assert summary.no_answer_reasons == {"empty answer": 1}


def test_prompt_lists_options_and_asks_for_an_answer_line() -> None:
    [message] = mcq_messages("Which?", ["one", "two", "three"])
    assert message["role"] == "user"
    assert "'Answer: $LETTER'" in message["content"]
    assert "LETTER is one of ABC." in message["content"]
    assert message["content"].endswith("Which?\n\nA) one\nB) two\nC) three")
