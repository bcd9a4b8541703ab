"""Multiple-choice prompts and answer extraction.

The prompt asks for a last line ``Answer: X`` (openai/simple-evals' template, generalised to up
to ten options). Extraction is a cascade of rules, each taking the *last* match in the text,
tried in this order; the first rule that finds an allowed letter wins and is recorded as the
extraction ``method``:

1. ``answer_line``: ``Answer: B``, ``**Answer:** B``, ``Final answer: (B)``,
   ``Answer: $\\boxed{B}$``, ``ANSWER: \\textbf{B}``, ``Answer: option B``.
2. ``answer_option_text``: ``Answer: <the full text of one option>`` (exact, normalised).
3. ``boxed``: ``\\boxed{B}``, ``\\boxed{\\text{(B)}}``, ``\\fbox{B}``.
4. ``answer_is``: ``The answer is B``, ``the correct option is **(B)**``.
5. ``final_letter_line``: a last non-empty line holding only a letter: ``B``, ``(B)``,
   ``**B.**``, ``$B$``.
6. ``bold_letter``: a lone bold letter ``**B**`` / ``\\textbf{B}`` anywhere (not followed by
   option text, so a bold re-listing of the options does not count).

Letters are upper case, and must be one of the item's option letters. A text where no rule
matches is an extraction failure (score 0, ``extracted=None``), reported by
:func:`modelatlas.evals.core.summarize_extraction`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from modelatlas.evals.core import ChatMessage, ItemScore

LETTERS = "ABCDEFGHIJ"

MCQ_TEMPLATE = (
    "Answer the following multiple choice question. The last line of your response should be "
    "of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of "
    "{letters}. Think step by step before answering.\n\n{question}\n\n{options}"
)


def option_letters(n_options: int) -> str:
    if not 1 <= n_options <= len(LETTERS):
        raise ValueError(
            f"a multiple-choice item needs 1 to {len(LETTERS)} options, got {n_options}"
        )
    return LETTERS[:n_options]


def mcq_messages(question: str, options: Sequence[str]) -> list[ChatMessage]:
    """The zero-shot user message for a multiple-choice question."""
    letters = option_letters(len(options))
    listed = "\n".join(f"{letter}) {text}" for letter, text in zip(letters, options, strict=True))
    content = MCQ_TEMPLATE.format(letters=letters, question=question.strip(), options=listed)
    return [{"role": "user", "content": content}]


@dataclass(frozen=True)
class ChoiceExtraction:
    """The letter found in a response and the rule that found it (both ``None`` on failure)."""

    letter: str | None
    method: str | None


# Markdown / LaTeX wrappers that may sit between a label and the letter.
_WRAP = (
    r"(?:\s|\*|_|\$|\(|\[|\{|\\\(|\\\[|\\boxed\s*\{|\\fbox\s*\{"
    r"|\\(?:text|textbf|textrm|mathrm|mathbf|bf|mathit|textit)\s*\{)*"
)
_OPTION_WORD = r"(?:(?i:option|choice)\s*" + _WRAP + r")?"
_AFTER = r"(?![A-Za-z0-9])"
_ANSWER_LABEL = r"(?i:answer)[\s*_]*[:\uff1a]"
_ANSWER_IS = r"(?i:(?:answer|option|choice)\s+(?:is|would\s+be|should\s+be|must\s+be)\s*:?)"


def _letter_pattern(letters: str) -> str:
    return f"([{re.escape(letters)}])"


def _reads_as_word(letter: str, after: str) -> bool:
    """``A`` or ``I`` starting a sentence ("Answer: I think...", "Answer: A good choice")."""
    return (
        letter in "AI"
        and re.match(r"[ \t]+[a-z]", after) is not None
        and not re.match(r"[ \t]+is\b", after)
    )


def _last(pattern: str, text: str) -> str | None:
    """Group 1 of the last match, skipping pronoun/article readings of A and I."""
    found = None
    for match in re.finditer(pattern, text):
        if not _reads_as_word(match.group(1), text[match.end() : match.end() + 20]):
            found = match.group(1)
    return found


def _normalise_option(text: str) -> str:
    text = re.sub(r"\\text\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"[*_$`]", "", text)
    return re.sub(r"\s+", " ", text).strip().rstrip(".").strip().lower()


def _final_line_letter(text: str, letters: str) -> str | None:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    line = lines[-1]
    line = re.sub(r"\\(?:boxed|fbox|text|textbf|textrm|mathrm|mathbf|bf)\s*\{", "", line)
    line = re.sub(r"(?i)^\s*(?:option|choice)\s+", "", re.sub(r"[*_$(){}\[\]\\]", " ", line))
    line = line.strip().rstrip(".:)").strip()
    return line if len(line) == 1 and line in letters else None


def extract_choice(
    text: str, letters: str = "ABCD", options: Sequence[str] | None = None
) -> ChoiceExtraction:
    """Find the chosen option letter in a response (see the module docstring for the rules)."""
    text = text.replace("\u00a0", " ").replace("\uff1a", ":")
    letter = _letter_pattern(letters)

    found = _last(_ANSWER_LABEL + _WRAP + _OPTION_WORD + letter + _AFTER, text)
    if found:
        return ChoiceExtraction(found, "answer_line")
    # a lower-case letter only counts when it ends the line: "answer: (b)", not "answer: a cat"
    found = _last(
        r"(?m)"
        + _ANSWER_LABEL
        + r"[ \t*_$(]*"
        + _letter_pattern(letters.lower())
        + r"[ \t*_$).]*$",
        text,
    )
    if found:
        return ChoiceExtraction(found.upper(), "answer_line")

    if options:
        tails = re.findall(_ANSWER_LABEL + r"[ \t]*(.+)", text)
        if tails:
            wanted = _normalise_option(tails[-1])
            hits = [
                letters[i]
                for i, option in enumerate(options[: len(letters)])
                if _normalise_option(option) == wanted
            ]
            if len(hits) == 1:
                return ChoiceExtraction(hits[0], "answer_option_text")

    found = _last(r"\\(?:boxed|fbox)\s*\{" + _WRAP + _OPTION_WORD + letter + _AFTER, text)
    if found:
        return ChoiceExtraction(found, "boxed")

    found = _last(_ANSWER_IS + _WRAP + _OPTION_WORD + letter + _AFTER, text)
    if found:
        return ChoiceExtraction(found, "answer_is")

    found = _final_line_letter(text, letters)
    if found:
        return ChoiceExtraction(found, "final_letter_line")

    bold = r"(?:\*\*|__|\\textbf\s*\{)\s*\(?" + letter + r"\)?[.:]?\s*(?:\*\*|__|\})"
    found = _last(r"(?m)" + bold + r"(?=[ \t]*[.!]?[ \t]*$)", text)
    if found:
        return ChoiceExtraction(found, "bold_letter")
    return ChoiceExtraction(None, None)


def score_choice(
    text: str, target: str, letters: str, options: Sequence[str] | None = None
) -> ItemScore:
    """Score a response to a multiple-choice item whose correct letter is ``target``."""
    extraction = extract_choice(text, letters, options)
    if extraction.letter is None:
        return ItemScore(score=0.0, reason="no answer pattern found")
    correct = extraction.letter == target
    return ItemScore(
        score=1.0 if correct else 0.0,
        extracted=extraction.letter,
        method=extraction.method,
        reason=None if correct else "wrong answer",
    )
