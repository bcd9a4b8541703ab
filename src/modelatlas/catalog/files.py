"""Catalog files in TOML: the built-in data file and the user's own catalog.

A user catalog lists one's own providers, models and endpoints in the same layout as the
built-in file (``[[providers]]``, ``[[models]]``, ``[[endpoints]]``, ``[[creators]]``)::

    [[providers]]
    slug = "my-vllm"
    name = "vLLM on gpu-box"
    base_url = "http://gpu-box:8000/v1"
    api_key_env = "MY_VLLM_KEY"

    [[endpoints]]
    slug = "my-vllm/qwen3-vl-4b"
    provider = "my-vllm"
    model = "qwen3-vl-4b-reasoning"
    api_model_id = "Qwen/Qwen3-VL-4B-Thinking"
    prices = { input = 0.05, output = 0.2 }

An entry whose slug already exists amends it: only the fields given change
(e.g. ``[[endpoints]] slug = "openai/gpt-5"`` with new ``prices``).

Every problem is one :class:`~modelatlas.errors.UserError` naming the file and the field, e.g.
``catalog.toml: endpoints[0].prices.input: Input should be a valid number``; a TOML syntax error
names the file and the line.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from modelatlas.catalog.schema import (
    ENTITY_CLASSES,
    CatalogFile,
    PartialCatalogFile,
)
from modelatlas.errors import UserError

BUILTIN_RESOURCE = "builtin.toml"
SECTIONS: tuple[tuple[str, str], ...] = (
    ("creators", "creator"),
    ("models", "model"),
    ("providers", "provider"),
    ("endpoints", "endpoint"),
)


def format_loc(loc: Sequence[int | str]) -> str:
    """('endpoints', 0, 'prices', 'input') -> 'endpoints[0].prices.input'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def validation_error(
    label: str, exc: ValidationError, prefix: Sequence[int | str] = ()
) -> UserError:
    """One UserError for a pydantic error: the first problem, the others as a hint."""
    problems = [
        f"{label}: {format_loc([*prefix, *err['loc']])}: {err['msg']}" for err in exc.errors()
    ]
    hint = None
    if len(problems) > 1:
        more = problems[1:6]
        extra = f"\n(and {len(problems) - 6} more)" if len(problems) > 6 else ""
        hint = "Also:\n" + "\n".join(more) + extra
    return UserError(problems[0], hint=hint)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a syntax error becomes a UserError with the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"Catalog file not found: {path}") from None
    except OSError as exc:
        raise UserError(f"Cannot read catalog file {path}: {exc.strerror or exc}") from None
    return parse_toml(text, str(path))


def parse_toml(text: str, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The message ends with "(at line N, column M)".
        raise UserError(f"{label}: invalid TOML: {exc}") from None


def builtin_text() -> str:
    return resources.files("modelatlas.catalog.data").joinpath(BUILTIN_RESOURCE).read_text("utf-8")


def builtin_sha256() -> str:
    return hashlib.sha256(builtin_text().encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def load_builtin() -> CatalogFile:
    """The built-in facts, validated (an error here is a bug in the data file)."""
    data = parse_toml(builtin_text(), f"modelatlas/catalog/data/{BUILTIN_RESOURCE}")
    try:
        return CatalogFile.model_validate(data)
    except ValidationError as exc:
        raise validation_error(f"built-in {BUILTIN_RESOURCE}", exc) from None


def _deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_user_file(
    path: Path, existing: Mapping[str, Mapping[str, BaseModel]]
) -> tuple[CatalogFile, dict[str, dict[str, set[str]]]]:
    """Validate a user catalog file against the catalog it amends.

    ``existing`` maps an entity kind to {slug: entity}. Returns the complete entities (amended
    ones merged with what they amend) and, per kind and slug, the fields the user set.
    """
    label = str(path)
    data = read_toml(path)
    try:
        partial = PartialCatalogFile.model_validate(data)
    except ValidationError as exc:
        raise validation_error(label, exc) from None
    result: dict[str, list[BaseModel]] = {section: [] for section, _ in SECTIONS}
    fields_set: dict[str, dict[str, set[str]]] = {kind: {} for _, kind in SECTIONS}
    for section, kind in SECTIONS:
        cls = ENTITY_CLASSES[kind]
        for index, entry in enumerate(getattr(partial, section)):
            slug = entry.get("slug")
            if not isinstance(slug, str) or not slug.strip():
                raise UserError(f"{label}: {section}[{index}].slug: Field required")
            base = existing.get(kind, {}).get(slug)
            merged = (
                _deep_merge(base.model_dump(mode="python", exclude_none=True), entry)
                if base is not None
                else entry
            )
            try:
                entity = cls.model_validate(merged)
            except ValidationError as exc:
                raise validation_error(label, exc, (section, index)) from None
            result[section].append(entity)
            fields_set[kind][entity.slug] = set(entry) - {"slug"}  # type: ignore[attr-defined]
    try:
        catalog_file = CatalogFile.model_validate(
            {k: [e.model_dump(mode="python") for e in v] for k, v in result.items()}
        )
    except ValidationError as exc:  # pragma: no cover - the entries were validated above
        raise validation_error(label, exc) from None
    return catalog_file, fields_set
