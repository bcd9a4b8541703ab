"""MMLU-Pro, GPQA Diamond, AIME 2025/2024, MATH-500, GSM8K against the dataset mirror.

The gold answer, written as a well-formed response, must score 1 and a wrong one 0: this
proves that loaders, prompts' answer formats and scorers line up.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from modelatlas.evals.benchmarks.gpqa import option_order
from modelatlas.evals.core import Item, sample_items
from modelatlas.evals.datasets import GPQA_DIAMOND, extracted_member
from modelatlas.evals.registry import get_benchmark

COUNTS = {
    "mmlu_pro": 12_032,
    "gpqa_diamond": 198,
    "aime25": 30,
    "aime24": 30,
    "math500": 500,
    "gsm8k": 1_319,
}


@pytest.fixture(scope="module")
def mirror(shared_dir: Path) -> Path:
    return shared_dir / "datasets"


_loaded: dict[str, list[Item]] = {}


def items_of(key: str, mirror: Path) -> list[Item]:
    if key not in _loaded:
        _loaded[key] = get_benchmark(key).load(data_dir=mirror)
    return _loaded[key]


@pytest.mark.parametrize("key", sorted(COUNTS))
def test_loader_counts_and_stable_ids(key: str, mirror: Path) -> None:
    items = items_of(key, mirror)
    assert len(items) == COUNTS[key] == get_benchmark(key).item_count
    assert len({item.id for item in items}) == len(items)
    assert all(item.target for item in items)


def test_loading_through_the_environment_variable(
    mirror: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELATLAS_DATA_DIR", str(mirror))
    assert len(get_benchmark("aime25").load()) == 30


def test_mmlu_pro_items(mirror: Path) -> None:
    items = items_of("mmlu_pro", mirror)
    assert len({item.metadata["category"] for item in items}) == 14
    assert max(len(item.input["options"]) for item in items) == 10
    first = next(item for item in items if item.id == "70")
    assert first.target == "I" and len(first.input["options"]) == 9


def test_mmlu_pro_sample_is_stratified_by_category(mirror: Path) -> None:
    sample = get_benchmark("mmlu_pro").load(limit=140, seed=7, data_dir=mirror)
    assert len(sample) == 140
    counts = Counter(item.metadata["category"] for item in sample)
    assert len(counts) == 14
    assert counts["math"] > counts["history"]  # 1,351 vs 381 items
    again = get_benchmark("mmlu_pro").load(limit=140, seed=7, data_dir=mirror)
    assert [i.id for i in again] == [i.id for i in sample]
    other = get_benchmark("mmlu_pro").load(limit=140, seed=8, data_dir=mirror)
    assert [i.id for i in other] != [i.id for i in sample]


def _gpqa_rows(mirror: Path) -> dict[str, dict[str, str]]:
    with extracted_member(GPQA_DIAMOND, mirror).open(newline="", encoding="utf-8") as fh:
        return {row["Record ID"]: row for row in csv.DictReader(fh)}


def test_gpqa_shuffle_is_deterministic_and_tracks_the_correct_answer(mirror: Path) -> None:
    items = items_of("gpqa_diamond", mirror)
    again = get_benchmark("gpqa_diamond").load(data_dir=mirror)
    assert [(i.id, i.input["options"], i.target) for i in items] == [
        (i.id, i.input["options"], i.target) for i in again
    ]
    rows = _gpqa_rows(mirror)
    for item in items:
        row = rows[item.id]
        options = item.input["options"]
        assert options["ABCD".index(item.target)] == row["Correct Answer"].strip()
        assert sorted(options) == sorted(
            row[k].strip()
            for k in (
                "Correct Answer",
                "Incorrect Answer 1",
                "Incorrect Answer 2",
                "Incorrect Answer 3",
            )
        )
    letters = Counter(item.target for item in items)
    assert set(letters) == set("ABCD") and max(letters.values()) < 80
    # The permutation is a pure function of the question text (pinned: a change is a new version).
    assert option_order("What is the answer?") == option_order("What is the answer?")
    assert sorted(option_order("What is the answer?")) == [0, 1, 2, 3]
    assert items[0].id == "rec06pnAkLOr2t2mp" and items[0].target == "D"


def test_aime_2024_agrees_with_the_matharena_copy(mirror: Path) -> None:
    other = {}
    for line in (mirror / "aime2024" / "aime2024_matharena.jsonl").read_text().splitlines():
        row = json.loads(line)
        other[row["id"]] = str(int(row["answer"]))
    assert {item.id: item.target for item in items_of("aime24", mirror)} == other


def _gold_response(key: str, item: Item) -> str:
    if key in ("mmlu_pro", "gpqa_diamond"):
        return (
            f"Let me think step by step.\n\nThe evidence points one way.\n\nAnswer: {item.target}"
        )
    return f"Let me work it out step by step.\n\nAnswer: \\boxed{{{item.target}}}"


def _wrong_response(key: str, item: Item) -> str:
    if key in ("mmlu_pro", "gpqa_diamond"):
        letters = "ABCDEFGHIJ"[: len(item.input["options"])]
        wrong = next((c for c in letters if c != item.target), "J" if item.target != "J" else "A")
        return f"Let me think.\n\nAnswer: {wrong}"
    if key in ("aime25", "aime24", "gsm8k"):
        return f"Answer: \\boxed{{{int(item.target) + 1}}}"
    return "Answer: \\boxed{-987654321}"


@pytest.mark.parametrize(
    ("key", "limit"),
    [
        ("aime25", None),
        ("aime24", None),
        ("gsm8k", None),
        ("mmlu_pro", None),
        ("gpqa_diamond", None),
        ("math500", 60),
    ],
)
def test_gold_scores_one_and_wrong_scores_zero(key: str, limit: int | None, mirror: Path) -> None:
    bench = get_benchmark(key)
    items = items_of(key, mirror)
    if limit is not None:
        items = sample_items(items, limit, seed=0, stratify_by="subject")
    for item in items:
        gold = bench.grade(item, _gold_response(key, item), finish_reason="stop")
        assert gold.score == 1.0, (item.id, item.target, gold)
        wrong = bench.grade(item, _wrong_response(key, item), finish_reason="stop")
        assert wrong.score == 0.0, (item.id, item.target, wrong)


def test_gsm8k_targets_and_formatted_answers(mirror: Path) -> None:
    items = {item.id: item for item in items_of("gsm8k", mirror)}
    item = next(i for i in items.values() if i.target == "1600")  # "#### 1,600" in the file
    bench = get_benchmark("gsm8k")
    for text in ("Answer: \\boxed{1,600}", "**Answer:** $1,600", "The final answer is 1600.00"):
        assert bench.grade(item, text).score == 1.0, text


@pytest.mark.parametrize(
    ("text", "kwargs", "reason"),
    [
        ("", {}, "empty answer"),
        (None, {}, "empty answer"),
        ("   \n", {}, "empty answer"),
        ("Answer: B", {"finish_reason": "length"}, "truncated (finish_reason=length)"),
        ("", {"think_unclosed": True}, "unclosed <think> (reasoning did not finish)"),
        ("<think>B looks right... Answer: B", {}, "unclosed <think> (reasoning did not finish)"),
        ("<think>Answer: B</think>\n", {}, "empty answer after reasoning"),
    ],
)
def test_no_answer_is_counted_apart(
    text: str | None, kwargs: dict[str, object], reason: str, mirror: Path
) -> None:
    bench = get_benchmark("gpqa_diamond")
    item = items_of("gpqa_diamond", mirror)[0]
    result = bench.grade(item, text, **kwargs)  # type: ignore[arg-type]
    assert (result.score, result.no_answer, result.reason) == (0.0, True, reason)
    assert not result.extraction_failed


def test_reasoning_inside_think_tags_is_never_scored(mirror: Path) -> None:
    bench = get_benchmark("gpqa_diamond")
    item = items_of("gpqa_diamond", mirror)[0]
    wrong = "A" if item.target != "A" else "B"
    text = f"<think>Answer: {item.target}</think>\nAnswer: {wrong}"
    assert bench.grade(item, text).score == 0.0
    text = f"<think>Answer: {wrong}</think>\nAnswer: {item.target}"
    assert bench.grade(item, text).score == 1.0


@pytest.mark.parametrize("key", sorted(COUNTS))
def test_prompts_are_zero_shot_and_ask_for_the_answer_format(key: str, mirror: Path) -> None:
    bench = get_benchmark(key)
    item = items_of(key, mirror)[0]
    messages = bench.prompt(item)
    assert [m["role"] for m in messages] == ["user"]
    assert messages == bench.prompt(item)
    content = messages[0]["content"]
    question = item.input.get("question") or item.input["problem"]
    assert question.strip() in content
    assert (
        ("'Answer: $LETTER'" in content)
        if key in ("mmlu_pro", "gpqa_diamond")
        else ("\\boxed{ANSWER}" in content)
    )


def test_sampling_is_reproducible_and_nested() -> None:
    items = [Item(id=str(i), input={}, target="A", metadata={"c": i % 3}) for i in range(100)]
    small = sample_items(items, 10, seed=1)
    assert [i.id for i in small] == [i.id for i in sample_items(items, 10, seed=1)]
    assert {i.id for i in small} <= {i.id for i in sample_items(items, 30, seed=1)}
    assert [int(i.id) for i in small] == sorted(int(i.id) for i in small)  # dataset order kept
    assert sample_items(items, None) == items and sample_items(items, 500) == items
    strata = Counter(i.metadata["c"] for i in sample_items(items, 30, seed=2, stratify_by="c"))
    assert sorted(strata.values()) == [10, 10, 10]
