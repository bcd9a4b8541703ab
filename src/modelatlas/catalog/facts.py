"""Facts: one value of one field of one entity, as one source states it.

The catalog is resolved field by field from facts. Precedence (highest first): the user's
catalog file, the built-in data, then imported sources (``models-dev`` before ``litellm``).
Two sources *conflict* on a field when their values differ beyond rounding (see
:func:`values_agree`); conflicts are recorded and reported, never silently dropped, but the
resolved value still follows precedence.

Only facts are compared. Naming and configuration fields (display names, protocol, base URL,
key variable, links) legitimately differ between sources and are resolved by precedence alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel

SOURCE_PRIORITY: tuple[str, ...] = ("user", "builtin", "models-dev", "litellm")

NOT_COMPARED_FIELDS = frozenset(
    {
        "name",
        "protocol",
        "base_url",
        "api_key_env",
        "docs_url",
        "url",
        "weights_url",
        "aliases",
        "first_party_providers",
        "request_params",
        "model",
        "provider",
        "creator",
        "api_model_id",
    }
)
"""Fields resolved by precedence only, never reported as conflicts."""

NOT_FACT_FIELDS = frozenset({"slug", "price_history"})

_DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def source_rank(source: str) -> int:
    """Lower is preferred. Unknown sources come after the known ones, alphabetically."""
    try:
        return SOURCE_PRIORITY.index(source)
    except ValueError:
        return len(SOURCE_PRIORITY)


def sort_sources(sources: Iterable[str]) -> list[str]:
    return sorted(sources, key=lambda s: (source_rank(s), s))


def flatten(entity: BaseModel) -> dict[str, Any]:
    """The entity's fields as facts: ``prices`` becomes ``prices.input`` etc.

    Unknown values (None, empty lists) are not facts and are left out.
    """
    data = entity.model_dump(mode="json", exclude_none=True)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in NOT_FACT_FIELDS:
            continue
        if key == "prices" and isinstance(value, dict):
            for sub, sub_value in value.items():
                if sub_value is not None:
                    out[f"prices.{sub}"] = sub_value
            continue
        if value == [] or value == {}:
            continue
        out[key] = value
    return out


def unflatten(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten` (dotted fields become nested dicts)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if "." in key:
            head, tail = key.split(".", 1)
            out.setdefault(head, {})[tail] = value
        else:
            out[key] = value
    return out


def _decimals(value: float | int) -> int:
    """Decimal places a number is stated with; negative for round integers (128000 -> -3)."""
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        n = int(value)
        if n == 0:
            return 0
        trailing = len(str(abs(n))) - len(str(abs(n)).rstrip("0"))
        return -trailing
    text = repr(float(value))
    if "e" in text:
        mantissa, exp = text.split("e")
        frac = mantissa.split(".")[1] if "." in mantissa else ""
        return max(0, len(frac.rstrip("0")) - int(exp))
    return len(text.split(".")[1].rstrip("0"))


def _round_half_up(value: float, decimals: int) -> Decimal:
    quantum = Decimal(1).scaleb(-decimals)
    return Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP)


ROUNDING_MAX_RELATIVE_DIFFERENCE = 0.05


def numbers_agree(a: float, b: float) -> bool:
    """Equal, or one is the other rounded (to the precision it is stated with, within 5%).

    0.125 and 0.13 agree (0.13 is 0.125 rounded to cents); 4.44e9 and 4.4e9 agree; 131,072
    and 128,000 agree as the binary and decimal readings of "128k"; 0.28 and 0.3 do not (7%
    apart), nor do 100,000 and 128,000.
    """
    if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
        return True
    for x, y in ((a, b), (b, a)):  # "k" read as 1,000 by one source and 1,024 by the other
        if x > 0 and x.is_integer() and y.is_integer() and int(x) % 1000 == 0:  # noqa: SIM102
            if int(x) // 1000 * 1024 == int(y):
                return True
    if abs(a - b) > ROUNDING_MAX_RELATIVE_DIFFERENCE * max(abs(a), abs(b)):
        return False
    da, db = _decimals(a), _decimals(b)
    if da == db:
        return False
    coarse, fine, places = (a, b, da) if da < db else (b, a, db)
    return _round_half_up(fine, places) == Decimal(repr(float(coarse)))


IGNORED_MODALITIES = frozenset({"pdf"})
"""Documents are read as text and images; sources differ on listing them, we do not count it."""


def values_agree(a: Any, b: Any, field: str | None = None) -> bool:
    """Whether two sources say the same thing, allowing for rounding and precision."""
    modalities = field is not None and field.endswith("_modalities")
    if modalities and isinstance(a, list) and isinstance(b, list):
        a = [v for v in a if v not in IGNORED_MODALITIES]
        b = [v for v in b if v not in IGNORED_MODALITIES]
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return numbers_agree(float(a), float(b))
    if isinstance(a, str) and isinstance(b, str):
        x, y = a.strip().casefold(), b.strip().casefold()
        if _DATE_RE.match(x) and _DATE_RE.match(y):
            return x.startswith(y) or y.startswith(x)  # 2024-11 agrees with 2024-11-01
        return x == y
    if isinstance(a, list) and isinstance(b, list):
        return {str(v).casefold() for v in a} == {str(v).casefold() for v in b}
    return bool(a == b)


@dataclass(frozen=True)
class Conflict:
    """Sources disagree on one field of one entity."""

    entity_kind: str
    entity_key: str
    field: str
    values: dict[str, Any]  # source -> value, in precedence order
    chosen_source: str

    @property
    def chosen_value(self) -> Any:
        return self.values[self.chosen_source]

    def describe(self) -> str:
        parts = ", ".join(f"{src}={_short(val)}" for src, val in self.values.items())
        return f"{self.entity_kind} {self.entity_key}: {self.field}: {parts}"


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def find_conflict(
    entity_kind: str, entity_key: str, field: str, by_source: Mapping[str, Any]
) -> Conflict | None:
    """A conflict if two of the sources' values for this field disagree, else None."""
    if field in NOT_COMPARED_FIELDS or len(by_source) < 2:
        return None
    sources = sort_sources(by_source)
    values = [by_source[s] for s in sources]
    for i, a in enumerate(values):
        for b in values[i + 1 :]:
            if not values_agree(a, b, field):
                ordered = {s: by_source[s] for s in sources}
                return Conflict(entity_kind, entity_key, field, ordered, sources[0])
    return None


def resolve_fields(by_field: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``{field: {source: value}}`` -> ``{field: value}`` by source precedence."""
    return {field: by_source[sort_sources(by_source)[0]] for field, by_source in by_field.items()}
