"""GSM8K: 1,319 grade-school word problems; the reference answer follows ``####``."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from modelatlas.evals.core import Benchmark, Category, ChatMessage, Item, ItemScore, sample_items
from modelatlas.evals.datasets import GSM8K, load_rows
from modelatlas.evals.registry import register
from modelatlas.evals.scorers.math import math_messages, score_math

VERSION = "1"


class Gsm8kRow(BaseModel):
    question: str = Field(min_length=1)
    answer: str

    @field_validator("answer")
    @classmethod
    def _has_final_answer(cls, value: str) -> str:
        final_answer(value)
        return value


def final_answer(solution: str) -> str:
    """The integer after ``####`` (thousands separators removed): ``#### 1,600`` -> ``1600``."""
    if solution.count("####") != 1:
        raise ValueError("expected exactly one '####' final-answer marker")
    tail = solution.split("####", 1)[1].strip()
    if not re.fullmatch(r"-?\d{1,3}(?:,\d{3})+|-?\d+", tail):
        raise ValueError(f"the final answer {tail!r} is not an integer")
    return str(int(tail.replace(",", "")))


def load(*, limit: int | None = None, seed: int = 0, data_dir: Path | None = None) -> list[Item]:
    read = load_rows(GSM8K, Gsm8kRow, data_dir)
    items = [
        Item(
            # The file has no ids; its bytes are pinned by sha256, so the row number is stable.
            id=f"test-{number:04d}",
            input={"question": row.question},
            target=final_answer(row.answer),
            metadata={"solution": row.answer.split("####", 1)[0].strip()},
        )
        for number, row in read.rows
    ]
    return sample_items(items, limit, seed)


def prompt(item: Item) -> list[ChatMessage]:
    return math_messages(item.input["question"])


def score(item: Item, answer_text: str) -> ItemScore:
    return score_math(answer_text, item.target, integer=True)


@register
def gsm8k() -> Benchmark:
    return Benchmark(
        key="gsm8k",
        display_name="GSM8K",
        category=Category.MATH,
        version=VERSION,
        source=GSM8K.source,
        license=GSM8K.license,
        item_count=1_319,
        description="Grade-school math word problems, integer answers.",
        load=load,
        prompt=prompt,
        score=score,
    )
