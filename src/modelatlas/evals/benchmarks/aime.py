"""AIME 2025 and AIME 2024: 30 problems each (I and II), integer answers 0-999.

Both use the same zero-shot math prompt with the answer range stated, and integer scoring
(``025`` equals ``25``); an answer that is not a plain integer goes to math-verify.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from modelatlas.evals.core import Benchmark, Category, ChatMessage, Item, ItemScore, sample_items
from modelatlas.evals.datasets import AIME_2024, AIME_2025, load_rows
from modelatlas.evals.registry import register
from modelatlas.evals.scorers.math import math_messages, score_math

VERSION = "1"
HINT = "The answer is an integer between 0 and 999 inclusive."


def _integer_answer(value: str | int) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"\d{1,3}", text):
        raise ValueError(f"AIME answers are integers 0-999, got {text!r}")
    return str(int(text))


class MathArenaRow(BaseModel):
    id: str
    problem: str = Field(min_length=1)
    answer: str
    contest: str = ""
    problem_number: int

    _answer = field_validator("answer", mode="before")(_integer_answer)


class QwenAimeRow(BaseModel):
    problem: str = Field(min_length=1)
    answer: str
    url: str = Field(pattern=r"(\d{4})_AIME_(I+)_Problems/Problem_(\d+)$")

    _answer = field_validator("answer", mode="before")(_integer_answer)

    @property
    def stable_id(self) -> str:
        match = re.search(r"(\d{4})_AIME_(I+)_Problems/Problem_(\d+)$", self.url)
        assert match is not None
        return f"{match.group(1)}-{match.group(2)}-{int(match.group(3))}"


def load_2025(
    *, limit: int | None = None, seed: int = 0, data_dir: Path | None = None
) -> list[Item]:
    read = load_rows(AIME_2025, MathArenaRow, data_dir)
    items = [
        Item(
            id=row.id,
            input={"problem": row.problem},
            target=row.answer,
            metadata={"contest": row.contest, "problem_number": row.problem_number},
        )
        for _, row in read.rows
    ]
    return sample_items(items, limit, seed)


def load_2024(
    *, limit: int | None = None, seed: int = 0, data_dir: Path | None = None
) -> list[Item]:
    read = load_rows(AIME_2024, QwenAimeRow, data_dir)
    items = [
        Item(
            id=row.stable_id,
            input={"problem": row.problem},
            target=row.answer,
            metadata={"source_url": row.url},
        )
        for _, row in read.rows
    ]
    items.sort(key=lambda it: [int(p) if p.isdigit() else len(p) for p in it.id.split("-")])
    return sample_items(items, limit, seed)


def prompt(item: Item) -> list[ChatMessage]:
    return math_messages(item.input["problem"], hint=HINT)


def score(item: Item, answer_text: str) -> ItemScore:
    return score_math(answer_text, item.target, integer=True)


@register
def aime25() -> Benchmark:
    return Benchmark(
        key="aime25",
        display_name="AIME 2025",
        category=Category.MATH,
        version=VERSION,
        source=AIME_2025.source,
        license=AIME_2025.license,
        item_count=30,
        description="American Invitational Mathematics Examination 2025 I+II, integer answers.",
        load=load_2025,
        prompt=prompt,
        score=score,
        aliases=("aime_25", "aime2025"),
        aa_key="aime_25",
    )


@register
def aime24() -> Benchmark:
    return Benchmark(
        key="aime24",
        display_name="AIME 2024",
        category=Category.MATH,
        version=VERSION,
        source=AIME_2024.source,
        license=AIME_2024.license,
        item_count=30,
        description="American Invitational Mathematics Examination 2024 I+II, integer answers.",
        load=load_2024,
        prompt=prompt,
        score=score,
        aliases=("aime_24", "aime2024", "aime"),
        aa_key="aime",
    )
