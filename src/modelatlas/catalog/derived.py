"""Facts derived from the catalog's facts: every derived number and rule lives here, once.

Definitions follow the reference site's published method (docs/METHODOLOGY.md) so that a user
can compare figures that share a name:

- **Size class** by total parameters: Tiny <= 4B, Small 4B-40B, Medium 40B-150B, Large > 150B
  (upper bounds inclusive). The reference site labels a 4.44B model "Tiny", so the boundary is
  applied to the count *rounded to the nearest whole billion* (half up), the precision of the "4B"
  in a model's name: 4.44B -> 4B -> Tiny, 4.5B -> 5B -> Small, 40.4B -> Small, 150.4B -> Medium.
  No parameter count, no size class.
- **Blended price** (3:1) = (3 x input + 1 x output) / 4, USD per 1M tokens. A price that is 0
  or missing is *unknown*, never free: the blend is then unknown too. A self-hosted endpoint
  has no price (its cost is one's own hardware), shown as "self-hosted".
- **Price tier** of the blended price: Low < $0.15, Mid $0.15-$1 (inclusive), High > $1.
- **Model price**: the creator's own (first-party) API's price when known, else the median over
  the model's other endpoints with a known price (input and output separately).
- **Context in A4 pages**: 1.5 pages per 1,000 tokens (about 667 tokens per page of 12 pt Arial).
  A window that is a multiple of 1,024 (and not of 1,000) is read as binary "k" the way model
  cards state it (262,144 = "256k" = 256,000 tokens -> ~384 pages, as the reference site shows).
- **Comparison class** (who a model is compared with, among the catalog's comparable models,
  i.e. the curated ones, see :meth:`Catalog.comparable_models`): non-reasoning models only with
  non-reasoning models, reasoning models with both; open-weights models with open-weights models
  of the same size class; proprietary models with proprietary and open-weights models in the same
  price tier. A model whose reasoning flag is unknown counts as non-reasoning, one whose openness
  is unknown as proprietary. Without a size class (open weights) or a price tier (proprietary)
  the class is empty: no comparison rather than a wrong one.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from modelatlas.catalog.schema import Creator, Endpoint, Model, Prices

TOKENS_PER_A4_PAGE = 1000 / 1.5  # ~667


class SizeClass(StrEnum):
    TINY = "tiny"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"

    @property
    def label(self) -> str:
        return {
            "tiny": "Tiny (<= 4B)",
            "small": "Small (4B-40B)",
            "medium": "Medium (40B-150B)",
            "large": "Large (> 150B)",
        }[self.value]


class PriceTier(StrEnum):
    LOW = "low"
    MID = "mid"
    HIGH = "high"

    @property
    def label(self) -> str:
        return {"low": "< $0.15", "mid": "$0.15-$1", "high": "> $1"}[self.value]


SIZE_CLASS_UPPER_BOUNDS_B: tuple[tuple[int, SizeClass], ...] = (
    (4, SizeClass.TINY),
    (40, SizeClass.SMALL),
    (150, SizeClass.MEDIUM),
)
PRICE_TIER_LOW_BELOW = 0.15
PRICE_TIER_HIGH_ABOVE = 1.0


def rounded_billions(total_params: int) -> int:
    """Parameters in whole billions, rounded half up (4.44e9 -> 4, 4.5e9 -> 5)."""
    return math.floor(total_params / 1e9 + 0.5)


def size_class(total_params: int | None) -> SizeClass | None:
    """The size class of a model with ``total_params`` parameters (None if unknown)."""
    if total_params is None or total_params <= 0:
        return None
    billions = rounded_billions(total_params)
    for upper, cls in SIZE_CLASS_UPPER_BOUNDS_B:
        if billions <= upper:
            return cls
    return SizeClass.LARGE


def params_label(count: int | None) -> str | None:
    """A parameter count as the reference site writes it: 4.4B, 135M, 117B, 1T."""
    if count is None or count <= 0:
        return None
    if count >= 1_000_000_000_000:
        return f"{count / 1e12:.3g}T"
    if count >= 1_000_000_000:
        billions = count / 1e9
        text = f"{billions:.1f}" if billions < 10 else f"{billions:.0f}"
        return f"{text.removesuffix('.0')}B"
    if count >= 1_000_000:
        return f"{count / 1e6:.0f}M"
    return f"{count:,}"


def known_price(value: float | None) -> float | None:
    """A price, or None when it is missing or 0 (0 means unknown, never free)."""
    if value is None or value <= 0:
        return None
    return value


def blended_price(prices: Prices | None) -> float | None:
    """The 3:1 blended price, (3 x input + output) / 4; None unless both are known."""
    if prices is None:
        return None
    price_in, price_out = known_price(prices.input), known_price(prices.output)
    if price_in is None or price_out is None:
        return None
    return (3 * price_in + price_out) / 4


def price_tier(blended: float | None) -> PriceTier | None:
    """Low < $0.15, Mid $0.15-$1, High > $1 (blended, per 1M tokens); None if unknown."""
    if blended is None or blended <= 0:
        return None
    if blended < PRICE_TIER_LOW_BELOW:
        return PriceTier.LOW
    if blended <= PRICE_TIER_HIGH_ABOVE:
        return PriceTier.MID
    return PriceTier.HIGH


def nominal_context_tokens(tokens: int) -> int:
    """The window as model cards state it: 262,144 is binary "256k" (256,000); 256,000 stays."""
    if tokens >= 1024 and tokens % 1024 == 0 and tokens % 1000 != 0:
        return tokens // 1024 * 1000
    return tokens


def context_label(tokens: int | None) -> str | None:
    """A short label for a context window: 262,144 -> "256k", 1,048,576 -> "1M"."""
    if tokens is None or tokens <= 0:
        return None
    if tokens >= 1_000_000:
        if tokens % 1_048_576 == 0:
            return f"{tokens // 1_048_576}M"
        return f"{tokens / 1_000_000:g}M"
    nominal = nominal_context_tokens(tokens)
    if nominal >= 1000:
        return f"{nominal / 1000:g}k"
    return str(tokens)


def context_pages(tokens: int | None) -> int | None:
    """A4 pages of 12 pt Arial that a context window holds (1.5 pages per 1,000 tokens)."""
    if tokens is None or tokens <= 0:
        return None
    return round(nominal_context_tokens(tokens) / TOKENS_PER_A4_PAGE)


def context_pages_text(tokens: int | None) -> str | None:
    """ "~384 A4 pages" for 262,144 tokens."""
    pages = context_pages(tokens)
    return None if pages is None else f"~{pages:,} A4 pages"


def is_first_party(endpoint: Endpoint, creator: Creator | None) -> bool:
    """Whether ``endpoint`` is the model creator's own API."""
    if creator is None:
        return False
    return endpoint.provider in creator.first_party_providers or endpoint.provider == creator.slug


@dataclass(frozen=True)
class ModelPrice:
    """A model's price and where it comes from."""

    prices: Prices
    basis: str  # "first-party (<endpoint>)" | "median of N endpoints" | "self-hosted"
    endpoints: tuple[str, ...]

    @property
    def blended(self) -> float | None:
        return blended_price(self.prices)

    @property
    def tier(self) -> PriceTier | None:
        return price_tier(self.blended)


def model_price(
    model: Model, endpoints: Sequence[Endpoint], creator: Creator | None
) -> ModelPrice | None:
    """The model's price: its first-party endpoint's if known, else the median over the others.

    Endpoints with an unknown blended price (0 or missing) and self-hosted ones do not count.
    """
    priced = [
        e
        for e in endpoints
        if e.model == model.slug and not e.self_hosted and blended_price(e.prices) is not None
    ]
    first_party = [e for e in priced if is_first_party(e, creator)]
    if first_party:
        chosen = sorted(first_party, key=lambda e: (bool(e.request_params), e.slug))[0]
        return ModelPrice(chosen.prices, f"first-party ({chosen.slug})", (chosen.slug,))
    if not priced:
        return None

    def median_of(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None and v > 0]
        return statistics.median(known) if known else None

    prices = Prices(
        input=median_of([e.prices.input for e in priced]),
        output=median_of([e.prices.output for e in priced]),
        cache_read=median_of([e.prices.cache_read for e in priced]),
        cache_write=median_of([e.prices.cache_write for e in priced]),
    )
    return ModelPrice(
        prices, f"median of {len(priced)} endpoints", tuple(sorted(e.slug for e in priced))
    )


class CatalogView(Protocol):
    """What the comparison rule needs from a catalog."""

    def comparable_models(self) -> Sequence[Model]:
        """The models a class is drawn from (the catalog decides which count)."""
        ...

    def price_of(self, model_slug: str) -> ModelPrice | None: ...


@dataclass(frozen=True)
class ComparisonClass:
    """The models a model is compared with ("comparable models"), and why.

    Iterating yields the peers (the model itself excluded).
    """

    model: str
    basis: str  # "open-weights" | "proprietary"
    size_class: SizeClass | None
    price_tier: PriceTier | None
    reasoning_only_peers: bool
    peers: tuple[Model, ...]
    description: str

    def __iter__(self) -> Iterator[Model]:
        return iter(self.peers)

    def __len__(self) -> int:
        return len(self.peers)

    @property
    def slugs(self) -> list[str]:
        return [m.slug for m in self.peers]


def _reasoning_allows(model: Model, peer: Model) -> bool:
    if model.reasoning:
        return True
    return not peer.reasoning


def comparison_class(model: Model, catalog: CatalogView) -> ComparisonClass:
    """The peers of ``model`` under the reference site's comparison rule (see module doc)."""
    reasoning_text = (
        "reasoning and non-reasoning models" if model.reasoning else "non-reasoning models"
    )
    candidates = [
        m
        for m in catalog.comparable_models()
        if m.slug != model.slug and not m.simulated and _reasoning_allows(model, m)
    ]
    if model.open_weights:
        cls = size_class(model.total_params)
        if cls is None or model.simulated:
            peers: list[Model] = []
            text = "open-weights model without a parameter count: no size class, no peers"
        else:
            peers = [m for m in candidates if m.open_weights and size_class(m.total_params) == cls]
            text = f"open-weights {reasoning_text} of size class {cls.label}"
        return ComparisonClass(
            model.slug, "open-weights", cls, None, not model.reasoning, tuple(peers), text
        )
    own = catalog.price_of(model.slug)
    tier = own.tier if own is not None else None
    if tier is None or model.simulated:
        peers = []
        text = "proprietary model without a known price: no price tier, no peers"
    else:
        peers = []
        for m in candidates:
            price = catalog.price_of(m.slug)
            if price is not None and price.tier == tier:
                peers.append(m)
        text = f"proprietary and open-weights {reasoning_text} in price tier {tier.label}"
    return ComparisonClass(
        model.slug, "proprietary", None, tier, not model.reasoning, tuple(peers), text
    )
