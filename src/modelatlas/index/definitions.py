"""Intelligence Index definitions: versioned data, loaded from TOML and validated.

A definition says which evaluations (components) an index combines, on which scale each
component is reported, with which weight, and which sub-indices (math, coding, agentic, ...)
are derived from the same scores. The built-in definitions live in ``index/data/*.toml``;
a user can load their own file with :func:`load_definition_file`.

Scales (``normalisation``), each mapped to 0-100 index points:

- ``percent``: 0-100, used as is.
- ``fraction``: 0-1, multiplied by 100.
- ``elo``: any finite rating, ``clamp((elo - elo_offset) / elo_span, 0, 1) * 100``
  (the reference site's GDPval-AA rule uses offset 500 and span 2000).
- ``signed_percent``: -100..100, used as is, so a negative score lowers the index
  (AA-Omniscience's Omniscience Index, which penalises wrong answers; see ``aa-v4.1``).

A component with weight 0 is not part of the headline index and is only used by sub-indices
(e.g. AIME 2025 for the v4.1 Math Index, MATH-Vision for ``atlas-v1``'s vision sub-index).
A component can require an input modality (``requires = "image"``); for a model that lacks it,
every (sub-)index using that component is "not applicable", which is not the same as incomplete.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modelatlas.errors import NotFoundError, UserError

Normalisation = Literal["percent", "fraction", "elo", "signed_percent"]
Modality = Literal["text", "image"]

_KEY = r"^[a-z][a-z0-9_]*$"
_NAME = r"^[a-z0-9][a-z0-9.\-]*$"
_DATE = r"^\d{4}(-\d{2}(-\d{2})?)?$"

#: Range of raw scores each scale accepts (inclusive); ``elo`` accepts any finite rating.
SCALE_RANGES: dict[str, tuple[float, float]] = {
    "percent": (0.0, 100.0),
    "fraction": (0.0, 1.0),
    "signed_percent": (-100.0, 100.0),
    "elo": (-math.inf, math.inf),
}

#: Range of per-item scores (for the bootstrap): the credit an item earns, 0-1 (-1..1 for
#: ``signed_percent``, e.g. correct +1, wrong -1, abstained 0); ``elo`` items are ratings.
ITEM_RANGES: dict[str, tuple[float, float]] = {
    "percent": (0.0, 1.0),
    "fraction": (0.0, 1.0),
    "signed_percent": (-1.0, 1.0),
    "elo": (-math.inf, math.inf),
}

_WEIGHT_TOLERANCE = 1e-9
#: Component fields that change how a number is computed (see ``IndexDefinition.fingerprint``).
_FORMULA_FIELDS = {"key", "weight", "normalisation", "elo_offset", "elo_span", "requires"}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComponentSpec(_Frozen):
    """One evaluation that feeds an index, and how its score is put on the 0-100 scale."""

    key: Annotated[str, Field(pattern=_KEY)]
    name: str
    category: str
    weight: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1.0
    normalisation: Normalisation = "percent"
    elo_offset: Annotated[float, Field(allow_inf_nan=False)] = 500.0
    elo_span: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 2000.0
    requires: Modality = "text"
    description: str = ""

    def normalise(self, score: float) -> float:
        """Map a raw score (already range-checked) to 0-100 index points."""
        if self.normalisation == "fraction":
            return score * 100.0
        if self.normalisation == "elo":
            return min(max((score - self.elo_offset) / self.elo_span, 0.0), 1.0) * 100.0
        return score

    def item_mean_points(self, mean: float) -> float:
        """Map the mean per-item score (see :data:`ITEM_RANGES`) to 0-100 index points."""
        return self.normalise(mean) if self.normalisation == "elo" else mean * 100.0

    @property
    def scale_range(self) -> tuple[float, float]:
        """Inclusive range of raw scores this component accepts."""
        return SCALE_RANGES[self.normalisation]

    @property
    def item_range(self) -> tuple[float, float]:
        """Inclusive range of per-item scores this component accepts."""
        return ITEM_RANGES[self.normalisation]

    def describe_scale(self) -> str:
        """Short description of the raw scale, e.g. ``percent 0-100``."""
        if self.normalisation == "elo":
            return f"Elo, clamp((x-{self.elo_offset:g})/{self.elo_span:g})"
        return {
            "percent": "percent 0-100",
            "fraction": "fraction 0-1",
            "signed_percent": "signed -100..100",
        }[self.normalisation]


class CategorySpec(_Frozen):
    """A group of components; its weight, when given, must equal the sum of theirs."""

    name: str
    weight: Annotated[float | None, Field(ge=0, allow_inf_nan=False)] = None
    description: str = ""


class SubIndexSpec(_Frozen):
    """An index derived from some of the definition's components (math, coding, agentic...)."""

    key: Annotated[str, Field(pattern=_KEY)]
    name: str
    components: Annotated[list[str], Field(min_length=1)]
    #: Optional weights by component key; equal weights (a plain mean) when absent.
    weights: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]] | None = None
    description: str = ""

    @model_validator(mode="after")
    def _check_weights(self) -> Self:
        if len(set(self.components)) != len(self.components):
            raise ValueError(f"sub-index '{self.key}' lists a component twice")
        if self.weights is not None and set(self.weights) != set(self.components):
            raise ValueError(
                f"sub-index '{self.key}': weights must name exactly its components "
                f"{sorted(self.components)}, got {sorted(self.weights)}"
            )
        return self

    def weight_of(self, key: str) -> float:
        """The weight of one of this sub-index's components."""
        return 1.0 if self.weights is None else self.weights[key]


class IndexDefinition(_Frozen):
    """A versioned index: its components, weights, categories and sub-indices."""

    name: Annotated[str, Field(pattern=_NAME)]
    title: str
    version: str
    date: Annotated[str, Field(pattern=_DATE)]
    description: str
    #: ``mean``: every headline component has the same weight; ``weighted_mean``: explicit weights.
    aggregation: Literal["mean", "weighted_mean"]
    source: str = ""
    notes: list[str] = Field(default_factory=list)
    categories: list[CategorySpec] = Field(default_factory=list)
    components: Annotated[list[ComponentSpec], Field(min_length=1)]
    sub_indices: list[SubIndexSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        keys = [c.key for c in self.components]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"duplicate component keys: {', '.join(duplicates)}")
        headline = [c for c in self.components if c.weight > 0]
        if not headline:
            raise ValueError("no component has a positive weight")
        if self.aggregation == "mean" and len({c.weight for c in headline}) > 1:
            raise ValueError("aggregation 'mean' needs equal weights on every headline component")
        declared = [c.name for c in self.categories]
        if len(set(declared)) != len(declared):
            raise ValueError("duplicate category names")
        if declared:
            undeclared = sorted({c.category for c in self.components} - set(declared))
            if undeclared:
                raise ValueError(f"components use undeclared categories: {', '.join(undeclared)}")
        for category in self.categories:
            if category.weight is None:
                continue
            total = math.fsum(c.weight for c in self.components if c.category == category.name)
            if not math.isclose(total, category.weight, rel_tol=_WEIGHT_TOLERANCE):
                raise ValueError(
                    f"category '{category.name}' has weight {category.weight:g} but its "
                    f"components' weights sum to {total:g}"
                )
        sub_keys = [s.key for s in self.sub_indices]
        if len(set(sub_keys)) != len(sub_keys):
            raise ValueError("duplicate sub-index keys")
        for sub in self.sub_indices:
            unknown = sorted(set(sub.components) - set(keys))
            if unknown:
                raise ValueError(
                    f"sub-index '{sub.key}' uses components not in the definition: "
                    f"{', '.join(unknown)}"
                )
        return self

    @property
    def component_keys(self) -> list[str]:
        """Every component key, in definition order."""
        return [c.key for c in self.components]

    @property
    def headline_components(self) -> list[ComponentSpec]:
        """The components of the headline index (weight > 0)."""
        return [c for c in self.components if c.weight > 0]

    @property
    def total_weight(self) -> float:
        """Sum of the headline weights (each weight's share is weight / total)."""
        return math.fsum(c.weight for c in self.components)

    def component(self, key: str) -> ComponentSpec:
        """The component with this key, or a did-you-mean error."""
        for spec in self.components:
            if spec.key == key:
                return spec
        raise NotFoundError(f"component of index '{self.name}'", key, self.component_keys)

    def sub_index(self, key: str) -> SubIndexSpec:
        """The sub-index with this key, or a did-you-mean error."""
        for spec in self.sub_indices:
            if spec.key == key:
                return spec
        raise NotFoundError(f"sub-index of '{self.name}'", key, [s.key for s in self.sub_indices])

    @property
    def fingerprint(self) -> str:
        """A short digest of the formula (name, version, scales, weights, sub-indices).

        Wording (titles, descriptions, notes, categories) is left out, so fixing a typo keeps
        the fingerprint, while any change to how a number is computed changes it.
        """
        formula = {
            "name": self.name,
            "version": self.version,
            "components": [
                c.model_dump(mode="json", include=_FORMULA_FIELDS) for c in self.components
            ],
            "sub_indices": [
                s.model_dump(mode="json", include={"key", "components", "weights"})
                for s in self.sub_indices
            ],
        }
        canonical = json.dumps(formula, sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_definition(data: Mapping[str, object], *, origin: str) -> IndexDefinition:
    """Validate a definition given as a mapping; ``origin`` names it in error messages."""
    try:
        return IndexDefinition.model_validate(data)
    except ValidationError as exc:
        raise UserError(
            f"Invalid index definition in {origin}: {_format_validation_error(exc)}"
        ) from None


def load_definition_file(path: Path) -> IndexDefinition:
    """Load and validate one definition from a TOML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"Cannot read index definition file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"Invalid TOML in index definition file {path}: {exc}") from None
    return parse_definition(data, origin=str(path))


@cache
def builtin_definitions() -> dict[str, IndexDefinition]:
    """The definitions shipped with modelatlas, by name, oldest first within each family."""
    found: dict[str, IndexDefinition] = {}
    folder = resources.files("modelatlas.index").joinpath("data")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        data = tomllib.loads(entry.read_text(encoding="utf-8"))
        definition = parse_definition(data, origin=f"modelatlas/index/data/{entry.name}")
        if definition.name in found:
            raise UserError(f"Two built-in index definitions are named '{definition.name}'.")
        found[definition.name] = definition
    return found


def get_definition(name_or_path: str) -> IndexDefinition:
    """A built-in definition by name, or a definition file if given a path to a ``.toml``."""
    definitions = builtin_definitions()
    if name_or_path in definitions:
        return definitions[name_or_path]
    if name_or_path.endswith(".toml"):
        return load_definition_file(Path(name_or_path))
    raise NotFoundError("index definition", name_or_path, definitions)
