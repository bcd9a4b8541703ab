"""Computing an index from component scores: values, incompleteness, scales and errors."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest

from modelatlas.index.compute import (
    ScoreError,
    UnknownComponentError,
    compute_index,
    format_value,
)
from modelatlas.index.definitions import get_definition, parse_definition


def test_gpt5_v3_is_68_55_shown_as_69(gpt5_v3_scores: dict[str, float]) -> None:
    result = compute_index(get_definition("aa-v3"), gpt5_v3_scores)
    assert result.complete and result.status == "complete"
    assert result.value == pytest.approx(68.55, abs=1e-12)
    assert result.display() == "69"
    assert (result.definition, result.version) == ("aa-v3", "3.0")
    assert math.isclose(sum(c.contribution or 0 for c in result.components), 68.55)
    subs = result.sub_indices
    assert subs["math"].value == pytest.approx(94)
    assert subs["coding"].value == pytest.approx((85 + 43 + 31) / 3)
    assert subs["agentic"].value == pytest.approx((31 + 85) / 2)


def test_missing_component_makes_the_index_incomplete(gpt5_v3_scores: dict[str, float]) -> None:
    del gpt5_v3_scores["hle"]
    gpt5_v3_scores["lcr"] = None  # type: ignore[assignment]  # JSON null means missing too
    result = compute_index(get_definition("aa-v3"), gpt5_v3_scores)
    assert result.value is None
    assert not result.complete
    assert result.status == "incomplete"
    assert result.missing == ["hle", "lcr"]
    assert result.display() == "incomplete"
    # sub-indices that do not use the missing components are still computed
    assert result.sub_indices["math"].value == pytest.approx(94)
    assert result.sub_indices["coding"].complete


def test_unknown_component_is_named_with_a_suggestion(gpt5_v3_scores: dict[str, float]) -> None:
    gpt5_v3_scores["gpqa_diamond"] = 85
    gpt5_v3_scores["made_up"] = 1
    with pytest.raises(UnknownComponentError) as info:
        compute_index(get_definition("aa-v3"), gpt5_v3_scores)
    message = str(info.value)
    assert "'gpqa_diamond' (did you mean 'gpqa'?)" in message
    assert "'made_up'" in message
    assert info.value.unknown == ["gpqa_diamond", "made_up"]


@pytest.mark.parametrize("bad", [150, -1, math.nan, math.inf, "87", True])
def test_bad_scores_name_the_component(gpt5_v3_scores: dict[str, float], bad: object) -> None:
    gpt5_v3_scores["scicode"] = bad  # type: ignore[assignment]
    with pytest.raises(ScoreError, match="'scicode'"):
        compute_index(get_definition("aa-v3"), gpt5_v3_scores)


def test_v4_1_weighting_matches_a_hand_computation() -> None:
    scores = {
        "gdpval_aa": 1300,  # Elo: (1300 - 500) / 2000 = 0.4 -> 40 points
        "tau3_banking": 50,
        "terminalbench_2_1": 30,
        "scicode": 40,
        "omniscience": -20,
        "lcr": 60,
        "hle": 20,
        "gpqa": 80,
        "critpt": 10,
    }
    result = compute_index(get_definition("aa-v4.1"), scores)
    # 20*40 + 14*50 + 16*30 + 8*40 + 12*(-20) + 6*60 + 12*20 + 6*80 + 6*10 = 3200; / 100
    assert result.value == pytest.approx(32.0)
    by_key = {c.key: c for c in result.components}
    assert by_key["gdpval_aa"].points == pytest.approx(40)
    assert by_key["gdpval_aa"].weight == pytest.approx(0.20)
    assert by_key["omniscience"].contribution == pytest.approx(-2.4)
    assert sum(c.contribution or 0 for c in result.components) == pytest.approx(32.0)
    # Coding Index = (16 x Terminal-Bench 2.1 + 8 x SciCode) / 24
    assert result.sub_indices["coding"].value == pytest.approx((16 * 30 + 8 * 40) / 24)
    # AIME 2025 is only in the Math sub-index: the headline is complete without it
    assert result.complete
    assert result.sub_indices["math"].status == "incomplete"
    assert result.sub_indices["math"].missing == ["aime25"]


@pytest.mark.parametrize(
    ("elo", "points"),
    [(-100, 0), (300, 0), (500, 0), (1500, 50), (2500, 100), (3000, 100), (9999, 100)],
)
def test_elo_is_clamped(elo: float, points: float) -> None:
    d = get_definition("aa-v4.1")
    assert d.component("gdpval_aa").normalise(elo) == pytest.approx(points)


def test_omniscience_takes_signed_scores_only_within_range() -> None:
    d = get_definition("aa-v4.1")
    with pytest.raises(ScoreError, match="'omniscience'"):
        compute_index(d, {"omniscience": -150})
    result = compute_index(d, {"omniscience": -100})
    assert {c.key: c.points for c in result.components}["omniscience"] == -100


def test_fraction_components_are_scaled_and_checked() -> None:
    d = parse_definition(
        {
            "name": "frac-v1",
            "title": "F",
            "version": "1",
            "date": "2026",
            "description": "d",
            "aggregation": "mean",
            "components": [
                {"key": "a", "name": "A", "category": "X", "normalisation": "fraction"},
                {"key": "b", "name": "B", "category": "X"},
            ],
        },
        origin="test",
    )
    assert compute_index(d, {"a": 0.87, "b": 13}).value == pytest.approx(50)
    with pytest.raises(ScoreError, match="'a'") as info:
        compute_index(d, {"a": 87, "b": 13})
    assert info.value.hint is not None and "percent" in info.value.hint


def test_text_only_model_vision_is_not_applicable_not_missing() -> None:
    d = get_definition("atlas-v1")
    scores = {c.key: 50.0 for c in d.headline_components}
    text_only = compute_index(d, scores, modalities={"text"})
    assert text_only.complete and text_only.value == pytest.approx(50)
    assert text_only.sub_indices["vision"].status == "not_applicable"
    assert text_only.sub_indices["vision"].display() == "n/a"
    unknown_modalities = compute_index(d, scores)
    assert unknown_modalities.sub_indices["vision"].status == "incomplete"
    assert unknown_modalities.sub_indices["vision"].missing == ["math_vision"]
    vision = compute_index(d, {**scores, "math_vision": 30}, modalities={"text", "image"})
    assert vision.value == text_only.value  # one comparable headline
    assert vision.sub_indices["vision"].value == pytest.approx(30)
    with pytest.raises(ScoreError, match="math_vision"):
        compute_index(d, {**scores, "math_vision": 30}, modalities={"text"})


@pytest.mark.parametrize(
    ("value", "decimals", "shown"),
    [(68.55, 0, "69"), (68.5, 0, "69"), (68.49, 0, "68"), (68.55, 1, "68.6"), (-0.4, 0, "0")],
)
def test_display_rounds_half_up(value: float, decimals: int, shown: str) -> None:
    assert format_value(value, decimals=decimals) == shown


def test_v4_1_coding_index_reproduces_the_published_api(shared_dir: Path) -> None:
    """The reference API snapshot's Coding Index follows our aa-v4.1 coding sub-index."""
    path = shared_dir / "fixtures" / "aa_api_v2_llms_models_2026-07-31.json"
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        models = json.load(fh)["data"]
    d = get_definition("aa-v4.1")
    checked = 0
    for model in models:
        e = model["evaluations"]
        published = e.get("artificial_analysis_coding_index")
        if published is None or e.get("terminalbench_v2_1") is None or e.get("scicode") is None:
            continue
        scores = {"terminalbench_2_1": e["terminalbench_v2_1"] * 100, "scicode": e["scicode"] * 100}
        ours = compute_index(d, scores).sub_indices["coding"].value
        # published to 0.1; SciCode itself is published to 0.001 (0.017 index points here)
        assert ours == pytest.approx(published, abs=0.07), model["name"]
        checked += 1
    assert checked > 100
