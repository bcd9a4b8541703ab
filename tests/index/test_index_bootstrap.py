"""Bootstrap confidence intervals over items, stratified by component."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from modelatlas.index.compute import (
    IncompleteIndexError,
    ScoreError,
    _resample_means,
    bootstrap_ci,
    bootstrap_index_ci,
    compute_index,
)
from modelatlas.index.definitions import get_definition

AA_V3 = get_definition("aa-v3")


def _items(n: int, rates: dict[str, float], seed: int = 1) -> dict[str, list[float]]:
    """Pass/fail items with exactly round(rate * n) passes per component."""
    rng = random.Random(seed)
    out = {}
    for key, rate in rates.items():
        passes = round(rate * n)
        values = [1.0] * passes + [0.0] * (n - passes)
        rng.shuffle(values)
        out[key] = values
    return out


RATES = {key: 0.2 + 0.06 * i for i, key in enumerate(AA_V3.component_keys)}


def test_interval_contains_the_point_estimate() -> None:
    items = _items(200, RATES)
    result = bootstrap_ci(AA_V3, items, n_boot=1000, seed=3)
    assert result.index is not None
    point = compute_index(AA_V3, {k: 100 * sum(v) / len(v) for k, v in items.items()}).value
    assert result.index.point == pytest.approx(point)
    assert result.index.low < result.index.point < result.index.high
    for key, ci in result.components.items():
        assert ci.low <= ci.point <= ci.high, key
        assert ci.point == pytest.approx(100 * RATES[key], abs=0.5)
    for sub in result.sub_indices.values():
        assert sub is not None and sub.low <= sub.point <= sub.high


def test_interval_narrows_with_more_items() -> None:
    widths = []
    for n in (50, 500, 5000):
        low, high = bootstrap_index_ci(AA_V3, _items(n, RATES), n_boot=500, seed=0)
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    # the width shrinks like 1 / sqrt(n): about sqrt(10) per step
    assert widths[0] / widths[1] == pytest.approx(math.sqrt(10), rel=0.3)


def test_same_seed_same_interval_other_seed_other_interval() -> None:
    items = _items(300, RATES)
    first = bootstrap_ci(AA_V3, items, n_boot=400, seed=7)
    again = bootstrap_ci(AA_V3, items, n_boot=400, seed=7)
    other = bootstrap_ci(AA_V3, items, n_boot=400, seed=8)
    assert first == again
    assert first.index != other.index


def test_a_component_draws_the_same_replicates_whatever_else_is_given() -> None:
    items = _items(300, RATES)
    alone = bootstrap_ci(AA_V3, {"hle": items["hle"]}, n_boot=300, seed=1)
    together = bootstrap_ci(AA_V3, items, n_boot=300, seed=1)
    assert alone.components["hle"] == together.components["hle"]


def test_missing_items_make_no_index_interval() -> None:
    items = _items(100, RATES)
    del items["tau2"]
    result = bootstrap_ci(AA_V3, items, n_boot=200)
    assert result.index is None and result.missing == ["tau2"]
    assert result.sub_indices["agentic"] is None
    assert result.sub_indices["math"] is not None
    with pytest.raises(IncompleteIndexError, match="tau2"):
        bootstrap_index_ci(AA_V3, items, n_boot=200)


def test_bad_items_name_the_component() -> None:
    items = _items(10, RATES)
    items["lcr"] = [0.0, 1.0, 100.0]  # a percent instead of the item's 0-1 credit
    with pytest.raises(ScoreError, match="'lcr'"):
        bootstrap_ci(AA_V3, items, n_boot=10)
    items["lcr"] = []
    with pytest.raises(ScoreError, match="'lcr'"):
        bootstrap_ci(AA_V3, items, n_boot=10)


def test_elo_component_given_as_one_rating_is_held_fixed() -> None:
    d = get_definition("aa-v4.1")
    rng = random.Random(0)
    items: dict[str, list[float]] = {
        c.key: [float(rng.random() < 0.4) for _ in range(100)] for c in d.headline_components
    }
    items["gdpval_aa"] = [1300.0]
    items["omniscience"] = [rng.choice([-1.0, 0.0, 1.0]) for _ in range(300)]
    result = bootstrap_ci(d, items, n_boot=300)
    gdpval = result.components["gdpval_aa"]
    assert gdpval.low == gdpval.high == gdpval.point == pytest.approx(40)
    assert result.index is not None and result.index.low < result.index.high
    assert result.components["omniscience"].point == pytest.approx(
        100 * sum(items["omniscience"]) / 300
    )


@pytest.mark.parametrize(
    "levels",
    [
        [0.0, 1.0],  # pass/fail: bit-parallel
        [0.0, 0.25, 0.5, 0.75, 1.0],  # partial credit: bit-parallel
        [i / 40 for i in range(41)],  # many distinct values: direct resampling
    ],
)
def test_resampled_means_have_the_right_spread(levels: list[float]) -> None:
    rng = random.Random(11)
    values = [rng.choice(levels) for _ in range(400)]
    means = _resample_means(values, 4000, random.Random(5))
    mean = statistics.fmean(values)
    expected_sd = statistics.pstdev(values) / math.sqrt(len(values))
    assert statistics.fmean(means) == pytest.approx(mean, abs=3 * expected_sd / math.sqrt(4000) * 2)
    assert statistics.stdev(means) == pytest.approx(expected_sd, rel=0.06)
    assert min(means) >= min(values) and max(means) <= max(values)
