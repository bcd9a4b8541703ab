"""GPQA Diamond: 198 graduate-level science questions, four options.

The dataset lists the correct answer first; options are shuffled with a permutation derived
from sha256 of the question text, so every run and every re-scoring sees the same order, on
any machine and Python version. The zip is decrypted into the cache at run time.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from modelatlas.evals.core import Benchmark, Category, ChatMessage, Item, ItemScore, sample_items
from modelatlas.evals.datasets import GPQA_DIAMOND, load_rows
from modelatlas.evals.registry import register
from modelatlas.evals.scorers.mcq import LETTERS, mcq_messages, score_choice

VERSION = "1"


class GpqaRow(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    record_id: str = Field(alias="Record ID", min_length=1)
    question: str = Field(alias="Question", min_length=1)
    correct: str = Field(alias="Correct Answer", min_length=1)
    incorrect_1: str = Field(alias="Incorrect Answer 1", min_length=1)
    incorrect_2: str = Field(alias="Incorrect Answer 2", min_length=1)
    incorrect_3: str = Field(alias="Incorrect Answer 3", min_length=1)
    subdomain: str = Field(alias="Subdomain", default="")
    domain: str = Field(alias="High-level domain", default="")


def option_order(question: str, n: int = 4) -> list[int]:
    """The shuffled order of ``n`` options: indices into [correct, incorrect 1, 2, 3]."""
    seed = hashlib.sha256(question.strip().encode()).hexdigest()
    return sorted(range(n), key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())


def load(*, limit: int | None = None, seed: int = 0, data_dir: Path | None = None) -> list[Item]:
    read = load_rows(GPQA_DIAMOND, GpqaRow, data_dir)
    items = []
    for _, row in read.rows:
        original = [row.correct, row.incorrect_1, row.incorrect_2, row.incorrect_3]
        order = option_order(row.question)
        options = [original[i].strip() for i in order]
        items.append(
            Item(
                id=row.record_id,
                input={"question": row.question.strip(), "options": options},
                target=LETTERS[order.index(0)],
                metadata={"domain": row.domain, "subdomain": row.subdomain},
            )
        )
    return sample_items(items, limit, seed)


def prompt(item: Item) -> list[ChatMessage]:
    return mcq_messages(item.input["question"], item.input["options"])


def score(item: Item, answer_text: str) -> ItemScore:
    return score_choice(answer_text, item.target, "ABCD", item.input["options"])


@register
def gpqa_diamond() -> Benchmark:
    return Benchmark(
        key="gpqa_diamond",
        display_name="GPQA Diamond",
        category=Category.SCIENCE,
        version=VERSION,
        source=GPQA_DIAMOND.source,
        license=GPQA_DIAMOND.license,
        item_count=198,
        description="Graduate-level science multiple choice (4 options, seeded shuffle).",
        load=load,
        prompt=prompt,
        score=score,
        aliases=("gpqa",),
        aa_key="gpqa",
    )
