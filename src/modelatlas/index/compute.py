"""Compute an index (and its sub-indices) from component scores, with bootstrap intervals.

Rules:

- Every (sub-)index is ``sum(weight_i * points_i) / sum(weight_i)`` over its components, with
  ``points_i`` the component's score mapped to 0-100 (see :mod:`modelatlas.index.definitions`).
- A missing component makes the (sub-)index *incomplete*: its value is ``None``; it is never
  averaged over the components that happen to be present.
- A component that needs an input modality the model lacks (``modalities`` given and without
  ``image``, say) makes every (sub-)index that uses it *not applicable* (value ``None``).
- Unknown component keys and out-of-range or non-numeric scores are errors naming them.
- Values are kept unrounded; :func:`format_value` rounds half up, for display only.

Bootstrap: items are resampled with replacement within each component (stratified), the
component score of a replicate is the mean of its items' credit (0-1, x100 for percent scales;
ratings for Elo), and the interval is the percentile interval of the replicated index (linear
interpolation between order statistics, numpy's default "type 7"). Without numpy, resampling
is done bit-parallel on Python integers when a component's items take few distinct values
(pass/fail, partial-credit levels), which is the usual case; see :func:`_resample_means`.
"""

from __future__ import annotations

import difflib
import math
import random
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from modelatlas.errors import UserError
from modelatlas.index.definitions import ComponentSpec, IndexDefinition

Status = Literal["complete", "incomplete", "not_applicable"]
ComponentStatus = Literal["scored", "missing", "not_applicable"]

KNOWN_MODALITIES = ("text", "image")

#: Use bit-parallel resampling up to this many distinct item values per component.
MAX_LANE_CATEGORIES = 16
#: Bits of precision of each Bernoulli probability in bit-parallel resampling.
_LANE_PRECISION_BITS = 32
#: Upper bound on the size (in bits) of one batch of bit-parallel replicates.
_LANE_BATCH_BITS = 1 << 22


class UnknownComponentError(UserError):
    """Scores name components that the index definition does not have."""

    def __init__(self, definition: IndexDefinition, unknown: Sequence[str]) -> None:
        known = definition.component_keys
        parts = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
            parts.append(f"'{key}' (did you mean '{close[0]}'?)" if close else f"'{key}'")
        noun = "component" if len(unknown) == 1 else "components"
        super().__init__(
            f"Unknown {noun} for index '{definition.name}': {', '.join(parts)}.",
            hint=f"Components of {definition.name}: {', '.join(known)}.",
        )
        self.unknown = list(unknown)


class ScoreError(UserError):
    """A score that is not a number or is outside its component's scale."""


class IncompleteIndexError(UserError):
    """An index value was required but some components are missing or not applicable."""


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ComponentContribution(_Result):
    """One component's part in a (sub-)index."""

    key: str
    name: str
    category: str
    status: ComponentStatus
    #: The score as given, in the component's own scale (``None`` unless scored).
    score: float | None
    #: The score on the 0-100 index scale.
    points: float | None
    #: The component's share of the (sub-)index weight, 0-1.
    weight: float
    #: ``weight * points``: index points this component adds.
    contribution: float | None


class AggregateResult(_Result):
    """A computed index or sub-index. ``value`` is unrounded; ``None`` unless complete."""

    key: str
    name: str
    value: float | None
    status: Status
    complete: bool
    missing: list[str]
    not_applicable: list[str]
    components: list[ComponentContribution]

    def display(self, decimals: int = 0) -> str:
        """The value as shown to users: rounded half up, or the reason it has none."""
        return format_value(self.value, self.status, decimals)


class IndexResult(AggregateResult):
    """A computed headline index, carrying its definition, version and sub-indices."""

    definition: str
    version: str
    fingerprint: str
    sub_indices: dict[str, AggregateResult]


class IntervalEstimate(_Result):
    """A point estimate with a confidence interval, in index points (0-100)."""

    point: float
    low: float
    high: float


class BootstrapResult(_Result):
    """Bootstrap confidence intervals for an index, its components and its sub-indices."""

    definition: str
    version: str
    fingerprint: str
    n_boot: int
    seed: int
    confidence: float
    status: Status
    missing: list[str]
    not_applicable: list[str]
    #: ``None`` unless the index is complete.
    index: IntervalEstimate | None
    components: dict[str, IntervalEstimate]
    sub_indices: dict[str, IntervalEstimate | None]
    n_items: dict[str, int]


def format_value(value: float | None, status: Status = "complete", decimals: int = 0) -> str:
    """Round half up for display (68.55 -> "69"); "incomplete" or "n/a" without a value."""
    if value is None:
        return "n/a" if status == "not_applicable" else "incomplete"
    quantum = Decimal(1).scaleb(-decimals)
    rounded = Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    return str(rounded + 0)  # "+ 0" turns "-0" into "0"


def _check_modalities(modalities: Collection[str] | None) -> frozenset[str] | None:
    if modalities is None:
        return None
    unknown = sorted(set(modalities) - set(KNOWN_MODALITIES))
    if unknown:
        raise UserError(
            f"Unknown input modality: {', '.join(unknown)}.",
            hint=f"Known modalities: {', '.join(KNOWN_MODALITIES)}.",
        )
    return frozenset(modalities) | {"text"}


def _check_value(spec: ComponentSpec, value: object, what: str, *, item: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScoreError(f"{what} for component '{spec.key}' must be a number, got {value!r}.")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ScoreError(f"{what} for component '{spec.key}' must be finite, got {value!r}.")
    low, high = spec.item_range if item else spec.scale_range
    if not low <= number <= high:
        hint = None
        if item:
            hint = "An item score is the credit the item earned: 0-1 (-1 to 1 for signed scores)."
        elif spec.normalisation == "fraction" and 1 < number <= 100:
            hint = "This component takes fractions (0-1); did you pass a percent?"
        kind = "item" if item else spec.normalisation
        raise ScoreError(
            f"{what} {number:g} for component '{spec.key}' ({spec.name}) is out of range: "
            f"{kind} scores go from {low:g} to {high:g}.",
            hint=hint,
        )
    return number


def _check_keys(definition: IndexDefinition, keys: Collection[str]) -> None:
    known = set(definition.component_keys)
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise UnknownComponentError(definition, unknown)


def _check_applicable(
    definition: IndexDefinition, keys: Collection[str], modalities: frozenset[str] | None
) -> None:
    if modalities is None:
        return
    for key in keys:
        spec = definition.component(key)
        if spec.requires not in modalities:
            raise ScoreError(
                f"A score is given for component '{key}' ({spec.name}), which needs "
                f"{spec.requires} input, but the model's input modalities are "
                f"{', '.join(sorted(modalities))}."
            )


def validate_scores(
    definition: IndexDefinition,
    scores: Mapping[str, object],
    *,
    modalities: Collection[str] | None = None,
) -> dict[str, float]:
    """Check keys, types and ranges; return the given scores as floats (``None`` = missing)."""
    _check_keys(definition, list(scores))
    checked = {
        key: _check_value(definition.component(key), value, "Score")
        for key, value in scores.items()
        if value is not None
    }
    _check_applicable(definition, list(checked), _check_modalities(modalities))
    return checked


def _members(definition: IndexDefinition, key: str | None) -> list[tuple[ComponentSpec, float]]:
    """(component, weight) pairs of the headline (``key`` None) or of a sub-index."""
    if key is None:
        return [(c, c.weight) for c in definition.headline_components]
    sub = definition.sub_index(key)
    return [(definition.component(k), sub.weight_of(k)) for k in sub.components]


def _aggregate(
    key: str,
    name: str,
    members: Sequence[tuple[ComponentSpec, float]],
    scores: Mapping[str, float],
    modalities: frozenset[str] | None,
) -> AggregateResult:
    total = math.fsum(weight for _, weight in members)
    parts: list[ComponentContribution] = []
    weighted: list[float] = []
    for spec, weight in members:
        score = scores.get(spec.key)
        status: ComponentStatus
        if modalities is not None and spec.requires not in modalities:
            status, score, points, contribution = "not_applicable", None, None, None
        elif score is None:
            status, points, contribution = "missing", None, None
        else:
            points = spec.normalise(score)
            status, contribution = "scored", weight * points / total
            weighted.append(weight * points)
        parts.append(
            ComponentContribution(
                key=spec.key,
                name=spec.name,
                category=spec.category,
                status=status,
                score=score,
                points=points,
                weight=weight / total,
                contribution=contribution,
            )
        )
    missing = [p.key for p in parts if p.status == "missing"]
    not_applicable = [p.key for p in parts if p.status == "not_applicable"]
    overall: Status
    if not_applicable:
        overall, value = "not_applicable", None
    elif missing:
        overall, value = "incomplete", None
    else:
        overall, value = "complete", math.fsum(weighted) / total
    return AggregateResult(
        key=key,
        name=name,
        value=value,
        status=overall,
        complete=overall == "complete",
        missing=missing,
        not_applicable=not_applicable,
        components=parts,
    )


def compute_index(
    definition: IndexDefinition,
    scores: Mapping[str, float | None],
    *,
    modalities: Collection[str] | None = None,
) -> IndexResult:
    """Compute the headline index and every sub-index from raw component scores.

    ``scores`` maps component keys to scores in each component's own scale (see
    ``index show``); ``None`` means missing. ``modalities`` are the model's input modalities
    (e.g. ``{"text"}``); when ``None``, every component applies.
    """
    checked = validate_scores(definition, scores, modalities=modalities)
    allowed = _check_modalities(modalities)
    headline = _aggregate("index", definition.title, _members(definition, None), checked, allowed)
    subs = {
        sub.key: _aggregate(sub.key, sub.name, _members(definition, sub.key), checked, allowed)
        for sub in definition.sub_indices
    }
    return IndexResult(
        **headline.model_dump(),
        definition=definition.name,
        version=definition.version,
        fingerprint=definition.fingerprint,
        sub_indices=subs,
    )


def looks_like_fractions(definition: IndexDefinition, scores: Mapping[str, float | None]) -> bool:
    """Whether every given percent-scale score is at most 1 (probably fractions by mistake)."""
    known = {c.key: c for c in definition.components}
    percent = [
        v
        for k, v in scores.items()
        if v is not None and k in known and known[k].normalisation == "percent"
    ]
    return len(percent) >= 2 and all(0 <= v <= 1 for v in percent) and any(v > 0 for v in percent)


# --- bootstrap ---------------------------------------------------------------------------


def _bernoulli_lanes(rng: random.Random, n_bits: int, numerator: int, denominator: int) -> int:
    """An ``n_bits``-bit integer whose bits are independently 1 with probability num/den.

    The probability is truncated to ``_LANE_PRECISION_BITS`` bits (an error below 2**-32).
    Comparing a uniform U with p bit by bit, from p's least significant bit up:
    ``x = r | x`` where p's bit is 1 and ``x = r & x`` where it is 0, with ``r`` fresh bits.
    """
    if numerator >= denominator:
        return (1 << n_bits) - 1
    bits = _LANE_PRECISION_BITS
    threshold = (numerator << bits) // denominator
    if threshold == 0:
        return 0
    trailing = (threshold & -threshold).bit_length() - 1
    threshold >>= trailing
    lanes = rng.getrandbits(n_bits)  # the lowest set bit: x = r | 0
    for _ in range(bits - trailing - 1):
        threshold >>= 1
        if threshold & 1:
            lanes |= rng.getrandbits(n_bits)
        else:
            lanes &= rng.getrandbits(n_bits)
    return lanes


def _segment_counts(lanes: int, n_segments: int, segment_bytes: int) -> list[int]:
    """Number of set bits in each ``segment_bytes``-byte segment of ``lanes``."""
    data = lanes.to_bytes(n_segments * segment_bytes, "little")
    return [
        int.from_bytes(data[i : i + segment_bytes], "little").bit_count()
        for i in range(0, n_segments * segment_bytes, segment_bytes)
    ]


def _resample_means_lanes(values: Sequence[float], n_boot: int, rng: random.Random) -> list[float]:
    """Means of ``n_boot`` resamples, drawing category counts bit-parallel.

    Each resample is ``n`` lanes (bits) of a large integer, one per draw; a draw falls in the
    j-th distinct value with probability ``c_j / (c_j + ... + c_d)`` given that it fell in none
    of the earlier ones (sequential conditional Bernoulli trials, i.e. a multinomial draw).
    """
    n = len(values)
    counts = Counter(values)
    distinct = sorted(counts)
    segment_bytes = (n + 7) // 8
    segment_bits = segment_bytes * 8
    per_batch = max(1, _LANE_BATCH_BITS // segment_bits)
    segment_mask = ((1 << n) - 1).to_bytes(segment_bytes, "little")
    means: list[float] = []
    while len(means) < n_boot:
        batch = min(per_batch, n_boot - len(means))
        n_bits = batch * segment_bits
        alive = int.from_bytes(segment_mask * batch, "little")
        remaining = n
        sums = [0.0] * batch
        for position, value in enumerate(distinct):
            if position == len(distinct) - 1:
                hits = alive
            else:
                hits = _bernoulli_lanes(rng, n_bits, counts[value], remaining) & alive
                alive ^= hits
                remaining -= counts[value]
            if value:
                for b, k in enumerate(_segment_counts(hits, batch, segment_bytes)):
                    sums[b] += k * value
        means.extend(s / n for s in sums)
    return means


def _resample_means(values: Sequence[float], n_boot: int, rng: random.Random) -> list[float]:
    """Means of ``n_boot`` resamples (with replacement, same size) of ``values``."""
    n = len(values)
    n_distinct = len(set(values))
    if n_distinct == 1:
        return [math.fsum(values) / n] * n_boot
    if n_distinct <= MAX_LANE_CATEGORIES:
        return _resample_means_lanes(values, n_boot, rng)
    pool = list(values)
    return [math.fsum(rng.choices(pool, k=n)) / n for _ in range(n_boot)]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (0-1) of sorted values, interpolating linearly (numpy's default)."""
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (position - low) * (sorted_values[high] - sorted_values[low])


def _interval(point: float, replicates: Sequence[float], confidence: float) -> IntervalEstimate:
    ordered = sorted(replicates)
    tail = (1.0 - confidence) / 2.0
    return IntervalEstimate(
        point=point, low=percentile(ordered, tail), high=percentile(ordered, 1.0 - tail)
    )


def _replicated(
    members: Sequence[tuple[ComponentSpec, float]], points: Mapping[str, Sequence[float]]
) -> list[float]:
    total = math.fsum(weight for _, weight in members)
    columns = [[weight * p for p in points[spec.key]] for spec, weight in members]
    return [math.fsum(row) / total for row in zip(*columns, strict=True)]


def _item_mean_to_score(spec: ComponentSpec, mean: float) -> float:
    """The component score (own scale) that a mean item score stands for."""
    if spec.normalisation in ("percent", "signed_percent"):
        return mean * 100.0
    return mean


def bootstrap_ci(
    definition: IndexDefinition,
    item_scores: Mapping[str, Sequence[float]],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    modalities: Collection[str] | None = None,
) -> BootstrapResult:
    """Stratified percentile bootstrap of the index, its components and its sub-indices.

    ``item_scores`` maps component keys to per-item scores: the credit each item earned, 0-1
    (-1 to 1 for ``signed_percent``; ratings for ``elo``). A component's score is the mean of its
    items (x100 for percent scales). A component known only as one number (an Elo rating, say)
    is passed as a one-item list and is then held fixed. Each component draws from
    its own generator, seeded by ``seed`` and its key, so adding a component does not change
    the others' replicates.
    """
    if n_boot < 1:
        raise UserError(f"n_boot must be at least 1, got {n_boot}.")
    if not 0 < confidence < 1:
        raise UserError(f"confidence must be between 0 and 1, got {confidence}.")
    _check_keys(definition, list(item_scores))
    items: dict[str, list[float]] = {}
    for key, values in item_scores.items():
        spec = definition.component(key)
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise ScoreError(f"Item scores for component '{key}' must be a list of numbers.")
        if not values:
            raise ScoreError(f"Component '{key}' has no item scores.")
        items[key] = [
            _check_value(spec, v, f"Item {i} score", item=True) for i, v in enumerate(values)
        ]
    _check_applicable(definition, list(items), _check_modalities(modalities))

    means = {key: math.fsum(values) / len(values) for key, values in items.items()}
    # Component scores in each component's own scale, so the point estimate is compute_index's.
    scores = {key: _item_mean_to_score(definition.component(key), m) for key, m in means.items()}
    point = compute_index(definition, scores, modalities=modalities)
    points: dict[str, list[float]] = {}
    components: dict[str, IntervalEstimate] = {}
    for key, values in items.items():
        spec = definition.component(key)
        rng = random.Random(f"modelatlas-bootstrap:{seed}:{key}")
        points[key] = [spec.item_mean_points(m) for m in _resample_means(values, n_boot, rng)]
        components[key] = _interval(spec.item_mean_points(means[key]), points[key], confidence)

    def interval_of(result: AggregateResult, sub_key: str | None) -> IntervalEstimate | None:
        if result.value is None:
            return None
        replicates = _replicated(_members(definition, sub_key), points)
        return _interval(result.value, replicates, confidence)

    return BootstrapResult(
        definition=definition.name,
        version=definition.version,
        fingerprint=definition.fingerprint,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
        status=point.status,
        missing=point.missing,
        not_applicable=point.not_applicable,
        index=interval_of(point, None),
        components=components,
        sub_indices={k: interval_of(sub, k) for k, sub in point.sub_indices.items()},
        n_items={key: len(values) for key, values in items.items()},
    )


def bootstrap_index_ci(
    definition: IndexDefinition,
    item_scores: Mapping[str, Sequence[float]],
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """The 95% bootstrap interval (low, high) of the headline index, in index points.

    Raises :class:`IncompleteIndexError` naming the components without items. Use
    :func:`bootstrap_ci` for the per-component and sub-index intervals.
    """
    result = bootstrap_ci(definition, item_scores, n_boot=n_boot, seed=seed)
    if result.index is None:
        raise IncompleteIndexError(
            f"Index '{definition.name}' is incomplete: no item scores for "
            f"{', '.join(result.missing + result.not_applicable)}."
        )
    return result.index.low, result.index.high
