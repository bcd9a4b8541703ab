"""Built-in index definitions load, validate and say what the reference site publishes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from modelatlas.errors import NotFoundError, UserError
from modelatlas.index.definitions import (
    builtin_definitions,
    get_definition,
    load_definition_file,
    parse_definition,
)


def _minimal(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "custom-v1",
        "title": "Custom",
        "version": "1",
        "date": "2026-01-01",
        "description": "test",
        "aggregation": "mean",
        "components": [
            {"key": "a", "name": "A", "category": "X"},
            {"key": "b", "name": "B", "category": "X"},
        ],
    }
    data.update(overrides)
    return data


def test_builtin_definitions_are_shipped() -> None:
    assert {"aa-v2", "aa-v3", "aa-v4.1", "atlas-v1"} <= set(builtin_definitions())


def test_aa_v3_is_the_plain_mean_of_the_ten_published_evaluations() -> None:
    d = get_definition("aa-v3")
    assert d.aggregation == "mean"
    assert d.date == "2025-09"
    assert [c.key for c in d.headline_components] == [
        "mmlu_pro", "gpqa", "hle", "livecodebench", "scicode",
        "aime25", "ifbench", "lcr", "terminalbench_hard", "tau2",
    ]  # fmt: skip
    assert {c.weight for c in d.components} == {1.0}
    assert d.sub_index("math").components == ["aime25"]
    assert d.sub_index("coding").components == ["livecodebench", "scicode", "terminalbench_hard"]
    assert d.sub_index("agentic").components == ["terminalbench_hard", "tau2"]


def test_aa_v2_has_seven_equal_components() -> None:
    d = get_definition("aa-v2")
    assert len(d.headline_components) == 7
    assert d.date == "2025-02"
    assert {"mmlu_pro", "gpqa", "hle", "livecodebench", "scicode", "math500"} <= set(
        d.component_keys
    )


def test_aa_v4_1_weights_and_categories() -> None:
    d = get_definition("aa-v4.1")
    weights = {c.key: c.weight for c in d.headline_components}
    assert weights == {
        "gdpval_aa": 20, "tau3_banking": 14, "terminalbench_2_1": 16, "scicode": 8, "hle": 12,
        "gpqa": 6, "critpt": 6, "omniscience": 12, "lcr": 6,
    }  # fmt: skip
    assert math.isclose(d.total_weight, 100)
    categories = {c.name: c.weight for c in d.categories if c.weight}
    assert categories == {"Agents": 34, "Coding": 24, "General": 18, "Scientific Reasoning": 24}
    assert d.component("gdpval_aa").normalisation == "elo"
    assert d.component("omniscience").normalisation == "signed_percent"


def test_atlas_v1_keeps_vision_out_of_the_headline() -> None:
    d = get_definition("atlas-v1")
    vision = d.component("math_vision")
    assert vision.weight == 0
    assert vision.requires == "image"
    assert "math_vision" not in [c.key for c in d.headline_components]
    assert d.sub_index("vision").components == ["math_vision"]


def test_unknown_definition_suggests_close_names() -> None:
    with pytest.raises(NotFoundError) as info:
        get_definition("aa-v33")
    assert "aa-v3" in info.value.suggestions


def test_fingerprint_follows_the_formula_not_the_wording() -> None:
    a = parse_definition(_minimal(), origin="test")
    b = parse_definition(_minimal(description="other words"), origin="test")
    c = parse_definition(
        _minimal(
            aggregation="weighted_mean",
            components=[
                {"key": "a", "name": "A", "category": "X", "weight": 2},
                {"key": "b", "name": "B", "category": "X"},
            ],
        ),
        origin="test",
    )
    assert len(a.fingerprint) == 12
    assert a.fingerprint != c.fingerprint
    assert a.fingerprint == b.fingerprint  # wording is not part of the formula


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {
                "components": [
                    {"key": "a", "name": "A", "category": "X", "weight": 2},
                    {"key": "b", "name": "B", "category": "X"},
                ]
            },
            "equal weights",
        ),
        ({"sub_indices": [{"key": "s", "name": "S", "components": ["zz"]}]}, "zz"),
        ({"categories": [{"name": "X", "weight": 5}]}, "category 'X'"),
        ({"categories": [{"name": "Y"}]}, "undeclared categories: X"),
        (
            {
                "components": [
                    {"key": "a", "name": "A", "category": "X"},
                    {"key": "a", "name": "A2", "category": "X"},
                ]
            },
            "duplicate component keys: a",
        ),
        (
            {"components": [{"key": "a", "name": "A", "category": "X", "normalisation": "zz"}]},
            "components.0.normalisation",
        ),
    ],
)
def test_invalid_definitions_are_user_errors(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=r"custom\.toml") as info:
        parse_definition(_minimal(**overrides), origin="custom.toml")
    assert message in str(info.value)


def test_definition_file_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'name = "mine-v1"\ntitle = "Mine"\nversion = "1"\ndate = "2026"\n'
        'description = "d"\naggregation = "mean"\n'
        'components = [{ key = "x", name = "X", category = "C", normalisation = "fraction" }]\n'
    )
    d = get_definition(str(path))
    assert d.name == "mine-v1"
    assert d.component("x").normalisation == "fraction"


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "x\n')
    with pytest.raises(UserError, match=r"broken\.toml"):
        load_definition_file(path)
    with pytest.raises(UserError, match=r"nope\.toml"):
        load_definition_file(tmp_path / "nope.toml")
