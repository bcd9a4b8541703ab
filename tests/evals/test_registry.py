"""The benchmark registry: lookup by key and alias, did-you-mean, metadata."""

from __future__ import annotations

import pytest

from modelatlas.errors import NotFoundError, UserError
from modelatlas.evals.core import Benchmark, Category, Item, ItemScore
from modelatlas.evals.registry import get_benchmark, list_benchmarks, register

MINE = {
    "mmlu_pro": (Category.KNOWLEDGE, 12_032, "mmlu_pro"),
    "gpqa_diamond": (Category.SCIENCE, 198, "gpqa"),
    "aime25": (Category.MATH, 30, "aime_25"),
    "aime24": (Category.MATH, 30, "aime"),
    "math500": (Category.MATH, 500, "math_500"),
    "gsm8k": (Category.MATH, 1_319, None),
}


def test_knowledge_science_math_benchmarks_are_registered() -> None:
    listed = {b.key: b for b in list_benchmarks()}
    for key, (category, count, aa_key) in MINE.items():
        bench = listed[key]
        assert bench.category == category
        assert bench.item_count == count
        assert bench.aa_key == aa_key
        assert bench.version and bench.source and bench.license and bench.display_name


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("gpqa", "gpqa_diamond"),
        ("aime_25", "aime25"),
        ("MMLU-Pro", "mmlu_pro"),
        ("math_500", "math500"),
    ],
)
def test_lookup_by_alias_and_spelling(name: str, key: str) -> None:
    assert get_benchmark(name).key == key


def test_unknown_name_suggests_close_keys() -> None:
    with pytest.raises(NotFoundError) as info:
        get_benchmark("mmlu_prp")
    assert isinstance(info.value, UserError)
    assert "mmlu_pro" in info.value.suggestions
    assert "Did you mean" in str(info.value)


def test_describe_carries_version_and_source() -> None:
    info = get_benchmark("gpqa_diamond").describe()
    assert info["key"] == "gpqa_diamond"
    assert info["version"] == get_benchmark("gpqa_diamond").version
    assert "idavidrein/gpqa" in str(info["source"])
    assert info["category"] == "science"


def _dummy(key: str, aliases: tuple[str, ...] = ()) -> Benchmark:
    def load(*, limit: int | None = None, seed: int = 0, data_dir: object = None) -> list[Item]:
        return []

    return Benchmark(
        key=key,
        display_name=key,
        category=Category.KNOWLEDGE,
        version="1",
        source="test",
        license="test",
        item_count=0,
        description="",
        load=load,
        prompt=lambda item: [],
        score=lambda item, text: ItemScore(score=0.0),
        aliases=aliases,
    )


def test_a_key_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register(lambda: _dummy("gsm8k"))
    with pytest.raises(ValueError, match="already registered"):
        register(lambda: _dummy("some_new_key", aliases=("gpqa",)))
