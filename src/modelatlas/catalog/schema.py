"""The catalog's schema: creators, models, providers, endpoints and their prices.

Every entity is a pydantic model, validated when the built-in data file, a user catalog file or
an imported row is loaded. Prices are USD per 1M tokens. A price of 0 or a missing price means
*unknown*, never free (the reference site reports 0 for unknown); a self-hosted endpoint says so
with ``self_hosted = true`` instead.

Dates: ``release_date`` is an ISO date that may be partial (``2024-11`` or ``2024``), because
several sources only know the month; partial dates sort correctly as strings.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveInt,
)

DEFAULT_ENDPOINT = "local/smollm2-135m"
"""The endpoint every command targets unless told otherwise: the embedded local model."""

Protocol = Literal["openai-chat", "openai-responses", "anthropic-messages", "google-genai"]
"""Wire protocols an endpoint can speak. ``openai-chat`` is OpenAI's Chat Completions API."""

PROTOCOLS: tuple[str, ...] = (
    "openai-chat",
    "openai-responses",
    "anthropic-messages",
    "google-genai",
)

Modality = Literal["text", "image", "audio", "video", "pdf"]

Variant = Literal["reasoning", "instruct", "base"]
"""Which variant of a family's weights a model is (reasoning or instruct twins share weights)."""

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
ENDPOINT_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*/\S+$")
_PARTIAL_DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def _check_slug(value: str) -> str:
    if not SLUG_RE.match(value):
        raise ValueError(
            "should be lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def _check_endpoint_slug(value: str) -> str:
    if not ENDPOINT_SLUG_RE.match(value):
        raise ValueError("should look like 'provider/model' (no spaces)")
    return value


def _date_to_text(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()[:10]
    return value


def _check_partial_date(value: str) -> str:
    if not _PARTIAL_DATE_RE.match(value):
        raise ValueError("should be a date like 2025-10-14, 2025-10 or 2025")
    parts = [int(p) for p in value.split("-")]
    year, month, day = [*parts, 1, 1][:3]
    try:
        date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"is not a valid date ({exc})") from None
    return value


def _count_to_int(value: Any) -> Any:
    """Parameter counts may be written 4.44e9 (a float) or 4_440_000_000."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, float):
        return round(value)
    return value


Slug = Annotated[str, AfterValidator(_check_slug)]
EndpointSlug = Annotated[str, AfterValidator(_check_endpoint_slug)]
PartialDate = Annotated[str, BeforeValidator(_date_to_text), AfterValidator(_check_partial_date)]
ParamCount = Annotated[PositiveInt, BeforeValidator(_count_to_int)]
Price = NonNegativeFloat


class _Entity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Creator(_Entity):
    """An organisation that makes models (the lab), e.g. Alibaba for Qwen."""

    slug: Slug
    name: str
    url: str | None = None
    first_party_providers: list[Slug] = Field(
        default_factory=list,
        description="Providers that are the creator's own API (its prices are the model's price).",
    )


class Model(_Entity):
    """One model: a set of weights (or a closed model) in one mode (reasoning or not)."""

    slug: Slug
    name: str
    creator: Slug | None = None
    release_date: PartialDate | None = None
    reasoning: bool | None = None
    input_modalities: list[Modality] = Field(default_factory=list)
    output_modalities: list[Modality] = Field(default_factory=list)
    context_window: PositiveInt | None = None
    max_output: PositiveInt | None = None
    total_params: ParamCount | None = None
    active_params: ParamCount | None = Field(
        default=None, description="Parameters active per token (mixture-of-experts); None if dense."
    )
    license: str | None = None
    open_weights: bool | None = None
    weights_url: str | None = None
    superseded_by: Slug | None = Field(
        default=None, description="Slug of the newer model the creator suggests instead."
    )
    family: Slug | None = Field(
        default=None, description="Models sharing weights (reasoning and instruct twins)."
    )
    variant: Variant | None = None
    aliases: list[str] = Field(
        default_factory=list,
        description="Other names: Hugging Face repo ids, API ids, other sites' slugs.",
    )
    simulated: bool = Field(
        default=False, description="A stand-in for tests (the simulated server), not a real model."
    )


class Provider(_Entity):
    """Someone serving models behind an API: a first-party lab, a host, or oneself."""

    slug: Slug
    name: str
    base_url: str | None = None
    api_key_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the key (never the key).",
    )
    docs_url: str | None = None
    self_hosted: bool = False


class Prices(_Entity):
    """USD per 1M tokens, as the source states them. None means unknown; so does 0, unless the
    endpoint is ``self_hosted`` (see :mod:`modelatlas.catalog.derived`)."""

    input: Price | None = None
    output: Price | None = None
    cache_read: Price | None = None
    cache_write: Price | None = None

    def is_empty(self) -> bool:
        return all(v is None for v in (self.input, self.output, self.cache_read, self.cache_write))


class PricePoint(Prices):
    """Prices in effect from a date, as stated by one source."""

    effective_from: date
    source: str = "builtin"


class Endpoint(_Entity):
    """One model served by one provider: where to call it and what it costs there.

    ``base_url`` and ``api_key_env`` default to the provider's. A ``managed`` endpoint is started
    by modelatlas itself (``llama-cpp`` for the embedded local model, ``sim`` for the simulated
    server); its ``base_url`` holds a ``{port}`` placeholder filled in at run time.
    """

    slug: EndpointSlug
    provider: Slug
    model: Slug
    api_model_id: str
    protocol: Protocol | None = "openai-chat"
    base_url: str | None = None
    api_key_env: str | None = None
    prices: Prices = Field(default_factory=Prices)
    prices_effective_from: date | None = Field(
        default=None, description="Since when ``prices`` apply, when known."
    )
    price_history: list[PricePoint] = Field(default_factory=list)
    context_limit: PositiveInt | None = Field(
        default=None, description="Context window this provider serves (may be below the model's)."
    )
    max_input: PositiveInt | None = None
    max_output: PositiveInt | None = None
    managed: Literal["llama-cpp", "sim"] | None = None
    request_params: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra request body parameters selecting this variant (a thinking budget).",
    )
    self_hosted: bool = Field(
        default=False, description="Prices are 0 because one runs it oneself, not because unknown."
    )


class CatalogFile(BaseModel):
    """The layout of the built-in data file and of a user catalog file (TOML)."""

    model_config = ConfigDict(extra="forbid")

    creators: list[Creator] = Field(default_factory=list)
    models: list[Model] = Field(default_factory=list)
    providers: list[Provider] = Field(default_factory=list)
    endpoints: list[Endpoint] = Field(default_factory=list)


class PartialCatalogFile(BaseModel):
    """A user file may also amend existing entries: each entry needs only its slug."""

    model_config = ConfigDict(extra="forbid")

    creators: list[dict[str, Any]] = Field(default_factory=list)
    models: list[dict[str, Any]] = Field(default_factory=list)
    providers: list[dict[str, Any]] = Field(default_factory=list)
    endpoints: list[dict[str, Any]] = Field(default_factory=list)


EntityKind = Literal["creator", "model", "provider", "endpoint"]
ENTITY_KINDS: tuple[EntityKind, ...] = ("creator", "model", "provider", "endpoint")
ENTITY_CLASSES: dict[str, type[_Entity]] = {
    "creator": Creator,
    "model": Model,
    "provider": Provider,
    "endpoint": Endpoint,
}
