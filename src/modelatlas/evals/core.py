"""The evaluation core: items, scores, and the benchmark record.

A benchmark is data plus three small functions, not a subclass tree::

    load(limit=None, seed=0, data_dir=None) -> list[Item]
    prompt(item) -> list[ChatMessage]
    score(item, answer_text) -> ItemScore

A runner calls :meth:`Benchmark.grade` rather than ``score`` directly: ``grade`` first applies
the rules shared by every benchmark (an empty answer, a truncated response or an unclosed
``<think>`` block is "no answer", counted apart from extraction failures; text inside the
reasoning channel is never scored), then hands the answer text to the benchmark's ``score``.

Every stored score should carry ``Benchmark.key`` and ``Benchmark.version``: the version is
bumped whenever a change (prompt, extraction, shuffling, data file) could move a score.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol, TypedDict

from pydantic import BaseModel, ConfigDict, Field


class Category(StrEnum):
    """What a benchmark measures; used to group evaluations on pages and in indices."""

    KNOWLEDGE = "knowledge"
    SCIENCE = "science"
    MATH = "math"
    CODING = "coding"
    INSTRUCTION_FOLLOWING = "instruction_following"
    LONG_CONTEXT = "long_context"
    AGENTIC = "agentic"
    MULTIMODAL = "multimodal"


class ChatMessage(TypedDict):
    """One OpenAI-style chat message, as sent to an endpoint."""

    role: Literal["system", "user", "assistant"]
    content: str


class Item(BaseModel):
    """One evaluation item.

    ``id`` is stable across runs and versions of the code (it comes from the dataset, or from
    the row position in a sha256-pinned file), so a runner can cache and resume by it.
    ``input`` holds what the prompt needs (question, options, ...), ``target`` the reference
    answer in the form the scorer compares against (a letter, an integer, a LaTeX expression).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    input: dict[str, Any]
    target: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class ItemScore(BaseModel):
    """The score of one answer to one item.

    - ``score``: 0..1.
    - ``extracted``: the answer found in the response (``None`` when none was found).
    - ``method``: which extraction rule found it (e.g. ``answer_line``, ``boxed``), else ``None``.
    - ``no_answer``: the model gave no answer at all (empty, truncated, unclosed reasoning);
      ``reason`` says which. Counted apart from extraction failures.
    - ``reason``: why the score is what it is when it is not a plain match (``wrong answer``,
      ``no answer pattern found``, ``verify timeout``, ...).
    - ``excluded``: the item must be left out of the mean (e.g. an unparseable judge verdict,
      fail-closed); counted and reported.
    """

    model_config = ConfigDict(frozen=True)

    score: float = Field(ge=0.0, le=1.0)
    extracted: str | None = None
    method: str | None = None
    no_answer: bool = False
    reason: str | None = None
    excluded: bool = False
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def extraction_failed(self) -> bool:
        """The model answered but no rule could find the answer in its text."""
        return not self.no_answer and self.extracted is None

    @property
    def correct(self) -> bool:
        return self.score >= 1.0 and not self.excluded


class LoadFn(Protocol):
    def __call__(
        self, *, limit: int | None = None, seed: int = 0, data_dir: Path | None = None
    ) -> list[Item]: ...


PromptFn = Callable[[Item], list[ChatMessage]]
ScoreFn = Callable[[Item, str], ItemScore]


@dataclass(frozen=True, kw_only=True)
class Benchmark:
    """A benchmark: metadata plus ``load``, ``prompt`` and ``score``.

    ``aa_key`` names the matching evaluation field of the Artificial Analysis data API
    (``gpqa``, ``aime_25``, ...) when our definition follows theirs, so results can be compared.
    """

    key: str
    display_name: str
    category: Category
    version: str
    source: str
    license: str
    item_count: int
    description: str
    load: LoadFn
    prompt: PromptFn
    score: ScoreFn
    aliases: tuple[str, ...] = ()
    aa_key: str | None = None
    tags: tuple[str, ...] = field(default=())

    def grade(
        self,
        item: Item,
        answer_text: str | None,
        *,
        finish_reason: str | None = None,
        think_unclosed: bool = False,
    ) -> ItemScore:
        """Score a model's response, applying the shared no-answer rules first.

        Pass the endpoint client's ``CallRecord.answer``, ``.finish_reason`` and
        ``.think_unclosed``: ``answer_text`` is the answer channel only. Inline
        ``<think>...</think>`` text is still stripped defensively; an unclosed ``<think>``
        means the reasoning never finished: no answer.

        Sync and possibly slow (math scoring waits for a verifier process, bounded by its
        timeout): from asyncio code call it through ``asyncio.to_thread``.
        """
        missing = no_answer_reason(
            answer_text, finish_reason=finish_reason, think_unclosed=think_unclosed
        )
        if missing is not None:
            return no_answer(missing)
        assert answer_text is not None
        return self.score(item, strip_reasoning(answer_text))

    def describe(self) -> dict[str, str | int | None]:
        """The metadata to store next to results (everything but the functions)."""
        return {
            "key": self.key,
            "display_name": self.display_name,
            "category": str(self.category),
            "version": self.version,
            "source": self.source,
            "license": self.license,
            "item_count": self.item_count,
            "aa_key": self.aa_key,
        }


# --- no answer -----------------------------------------------------------------------------

_THINK_OPEN = re.compile(r"<think(?:ing)?>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think(?:ing)?>", re.IGNORECASE)


def no_answer_reason(
    answer_text: str | None, *, finish_reason: str | None = None, think_unclosed: bool = False
) -> str | None:
    """Why a response holds no answer at all, or ``None`` when it may hold one.

    A response cut by the token limit (``finish_reason == "length"``) is no answer even when
    some text came before the cut: the model never reached its final line.
    """
    if think_unclosed:
        return "unclosed <think> (reasoning did not finish)"
    if finish_reason == "length":
        return "truncated (finish_reason=length)"
    if answer_text is None or not answer_text.strip():
        return "empty answer"
    closes = list(_THINK_CLOSE.finditer(answer_text))
    opens = list(_THINK_OPEN.finditer(answer_text))
    if opens and (not closes or opens[-1].start() > closes[-1].start()):
        return "unclosed <think> (reasoning did not finish)"
    if not strip_reasoning(answer_text).strip():
        return "empty answer after reasoning"
    return None


def strip_reasoning(answer_text: str) -> str:
    """The text after the last ``</think>``; the whole text when there is none."""
    closes = list(_THINK_CLOSE.finditer(answer_text))
    return answer_text[closes[-1].end() :] if closes else answer_text


def no_answer(reason: str) -> ItemScore:
    """A zero score for a response that holds no answer."""
    return ItemScore(score=0.0, no_answer=True, reason=reason)


# --- reporting -----------------------------------------------------------------------------


class ExtractionSummary(BaseModel):
    """How often answers could not be found, over a set of item scores.

    ``failure_rate`` is over answered items (no-answer and excluded items are counted apart).
    """

    model_config = ConfigDict(frozen=True)

    total: int
    answered: int
    no_answer: int
    extraction_failed: int
    excluded: int
    failure_rate: float
    by_method: dict[str, int]
    no_answer_reasons: dict[str, int]


def summarize_extraction(scores: Iterable[ItemScore]) -> ExtractionSummary:
    """Aggregate extraction failures and no-answers over item scores."""
    total = answered = missing = failed = excluded = 0
    methods: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for s in scores:
        total += 1
        if s.excluded:
            excluded += 1
        if s.no_answer:
            missing += 1
            reasons[s.reason or "unknown"] += 1
            continue
        answered += 1
        if s.extracted is None:
            failed += 1
        else:
            methods[s.method or "unknown"] += 1
    return ExtractionSummary(
        total=total,
        answered=answered,
        no_answer=missing,
        extraction_failed=failed,
        excluded=excluded,
        failure_rate=failed / answered if answered else 0.0,
        by_method=dict(methods.most_common()),
        no_answer_reasons=dict(reasons.most_common()),
    )


# --- sampling ------------------------------------------------------------------------------


def _rank(seed: int, item_id: str) -> str:
    return hashlib.sha256(f"{seed}\x00{item_id}".encode()).hexdigest()


def sample_items(
    items: Sequence[Item],
    limit: int | None,
    seed: int = 0,
    *,
    stratify_by: str | None = None,
) -> list[Item]:
    """A reproducible sample of ``limit`` items (all items when ``limit`` is ``None``).

    Items are ranked by sha256 of (seed, item id), so a sample does not depend on the Python
    version or on the file order, and a smaller sample is contained in a larger one with the
    same seed. With ``stratify_by`` (a metadata key), each stratum gets a share proportional to
    its size (largest remainder, ties by stratum name). The sample keeps the dataset order.
    """
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    position = {item.id: i for i, item in enumerate(items)}
    if stratify_by is None:
        chosen = sorted(items, key=lambda it: _rank(seed, it.id))[:limit]
    else:
        strata: dict[str, list[Item]] = {}
        for item in items:
            strata.setdefault(str(item.metadata.get(stratify_by)), []).append(item)
        exact = {name: limit * len(group) / len(items) for name, group in strata.items()}
        quota = {name: int(share) for name, share in exact.items()}
        left = limit - sum(quota.values())
        by_remainder = sorted(strata, key=lambda n: (-(exact[n] - quota[n]), n))
        for name in by_remainder[:left]:
            quota[name] += 1
        chosen = []
        for name, group in strata.items():
            chosen.extend(sorted(group, key=lambda it: _rank(seed, it.id))[: quota[name]])
    return sorted(chosen, key=lambda it: position[it.id])
