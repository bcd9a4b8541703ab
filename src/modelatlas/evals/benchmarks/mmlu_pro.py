"""MMLU-Pro: 12,032 multiple-choice questions with up to ten options (A-J), 14 categories.

Zero-shot with the simple-evals multiple-choice template (the reference site's MMLU-Pro is
zero-shot too; the dataset's 70-item chain-of-thought few-shot split is not used). Options
keep the dataset order. ``limit`` draws a sample stratified by category.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from modelatlas.evals.core import Benchmark, Category, ChatMessage, Item, ItemScore, sample_items
from modelatlas.evals.datasets import MMLU_PRO, load_rows
from modelatlas.evals.registry import register
from modelatlas.evals.scorers.mcq import LETTERS, mcq_messages, option_letters, score_choice

VERSION = "1"


class MmluProRow(BaseModel):
    question_id: int
    question: str = Field(min_length=1)
    options: list[str] = Field(min_length=1, max_length=len(LETTERS))
    answer: str
    answer_index: int
    category: str
    src: str = ""

    @model_validator(mode="after")
    def _answer_matches_index(self) -> MmluProRow:
        if not 0 <= self.answer_index < len(self.options):
            raise ValueError(f"answer_index {self.answer_index} is out of range")
        if LETTERS[self.answer_index] != self.answer:
            raise ValueError(f"answer {self.answer!r} disagrees with answer_index")
        return self


def load(*, limit: int | None = None, seed: int = 0, data_dir: Path | None = None) -> list[Item]:
    read = load_rows(MMLU_PRO, MmluProRow, data_dir)
    items = [
        Item(
            id=str(row.question_id),
            input={"question": row.question, "options": row.options},
            target=row.answer,
            metadata={"category": row.category, "src": row.src},
        )
        for _, row in read.rows
    ]
    return sample_items(items, limit, seed, stratify_by="category")


def prompt(item: Item) -> list[ChatMessage]:
    return mcq_messages(item.input["question"], item.input["options"])


def score(item: Item, answer_text: str) -> ItemScore:
    options: list[str] = item.input["options"]
    return score_choice(answer_text, item.target, option_letters(len(options)), options)


@register
def mmlu_pro() -> Benchmark:
    return Benchmark(
        key="mmlu_pro",
        display_name="MMLU-Pro",
        category=Category.KNOWLEDGE,
        version=VERSION,
        source=MMLU_PRO.source,
        license=MMLU_PRO.license,
        item_count=12_032,
        description="Zero-shot multiple choice (up to 10 options) across 14 subjects.",
        load=load,
        prompt=prompt,
        score=score,
        aa_key="mmlu_pro",
    )
