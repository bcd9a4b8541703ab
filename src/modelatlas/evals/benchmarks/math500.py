"""MATH-500: the 500-problem subset of the MATH test set (OpenAI's "Let's Verify Step by
Step" split), LaTeX answers compared with math-verify."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from modelatlas.evals.core import Benchmark, Category, ChatMessage, Item, ItemScore, sample_items
from modelatlas.evals.datasets import MATH_500, load_rows
from modelatlas.evals.registry import register
from modelatlas.evals.scorers.math import math_messages, score_math

VERSION = "1"


class Math500Row(BaseModel):
    problem: str = Field(min_length=1)
    solution: str
    answer: str = Field(min_length=1)
    subject: str
    level: int
    unique_id: str = Field(min_length=1)


def load(*, limit: int | None = None, seed: int = 0, data_dir: Path | None = None) -> list[Item]:
    read = load_rows(MATH_500, Math500Row, data_dir)
    items = [
        Item(
            id=row.unique_id,
            input={"problem": row.problem},
            target=row.answer,
            metadata={"subject": row.subject, "level": row.level},
        )
        for _, row in read.rows
    ]
    return sample_items(items, limit, seed, stratify_by="subject")


def prompt(item: Item) -> list[ChatMessage]:
    return math_messages(item.input["problem"])


def score(item: Item, answer_text: str) -> ItemScore:
    return score_math(answer_text, item.target)


@register
def math500() -> Benchmark:
    return Benchmark(
        key="math500",
        display_name="MATH-500",
        category=Category.MATH,
        version=VERSION,
        source=MATH_500.source,
        license=MATH_500.license,
        item_count=500,
        description="Competition math (MATH test subset), answers checked with math-verify.",
        load=load,
        prompt=prompt,
        score=score,
        aliases=("math_500",),
        aa_key="math_500",
    )
