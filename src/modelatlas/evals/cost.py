"""Tokens and cost of evaluation calls, by segment (input, cached input, reasoning, answer).

Token counts come from the server's ``usage`` when it sent one, else from tiktoken
``o200k_base`` counts of the text (the reference site's convention). Segments:

- ``input``: prompt tokens not read from the provider's prompt cache, at the input price;
- ``cached_input``: prompt tokens read from the cache, at the cache-read price;
- ``reasoning``: reasoning tokens (streamed or hidden), at the output price;
- ``answer``: the other output tokens, at the output price.

Prices are USD per 1M tokens (``catalog.Prices``). A price that is missing, or 0 on an endpoint
that is not self-hosted, is *unknown*: a segment with tokens and an unknown price has an
unknown cost, and so has the total. Unknown is never 0. A self-hosted endpoint costs 0 per token
(the hardware is not priced here).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel

from modelatlas.catalog.schema import Prices
from modelatlas.endpoints.records import CallRecord

SEGMENTS: tuple[str, ...] = ("input", "cached_input", "reasoning", "answer")
TokenSource = Literal["usage", "o200k"]


class TokenCounts(BaseModel):
    """Tokens of one call (or a sum of calls). ``output`` includes ``reasoning``."""

    input: int = 0
    cached_input: int = 0
    output: int = 0
    reasoning: int = 0
    source: TokenSource | Literal["mixed"] = "o200k"

    @property
    def answer(self) -> int:
        return max(self.output - self.reasoning, 0)

    @property
    def uncached_input(self) -> int:
        return max(self.input - self.cached_input, 0)

    def segments(self) -> dict[str, int]:
        return {
            "input": self.uncached_input,
            "cached_input": self.cached_input,
            "reasoning": self.reasoning,
            "answer": self.answer,
        }

    def __add__(self, other: TokenCounts) -> TokenCounts:
        source = self.source if self.source == other.source else "mixed"
        return TokenCounts(
            input=self.input + other.input,
            cached_input=self.cached_input + other.cached_input,
            output=self.output + other.output,
            reasoning=self.reasoning + other.reasoning,
            source=source,
        )


def tokens_of(record: CallRecord) -> TokenCounts:
    """Tokens of a call: the server's usage where it reported a figure, else o200k counts."""
    usage = record.usage
    if usage is not None and usage.completion_tokens is not None:
        reasoning = usage.reasoning_tokens
        if reasoning is None:
            reasoning = record.reasoning_tokens_o200k
        return TokenCounts(
            input=usage.prompt_tokens
            if usage.prompt_tokens is not None
            else record.prompt_tokens_o200k,
            cached_input=usage.cached_tokens or 0,
            output=usage.completion_tokens,
            reasoning=min(reasoning, usage.completion_tokens),
            source="usage",
        )
    return TokenCounts(
        input=record.prompt_tokens_o200k,
        cached_input=0,
        output=record.answer_tokens_o200k + record.reasoning_tokens_o200k,
        reasoning=record.reasoning_tokens_o200k,
        source="o200k",
    )


class PriceSheet(BaseModel):
    """The per-1M-token prices used for costs, with where they came from."""

    input: float | None = None
    output: float | None = None
    cache_read: float | None = None
    self_hosted: bool = False
    source: str | None = None
    """Where the prices come from, e.g. ``catalog:openai/gpt-5`` or ``--price-input``."""

    @classmethod
    def from_prices(
        cls, prices: Prices | None, *, self_hosted: bool = False, source: str | None = None
    ) -> PriceSheet:
        if prices is None:
            return cls(self_hosted=self_hosted, source=source)
        return cls(
            input=prices.input,
            output=prices.output,
            cache_read=prices.cache_read,
            self_hosted=self_hosted,
            source=source,
        )

    def per_token(self, segment: str) -> float | None:
        """USD per token for a segment, or None when unknown."""
        if self.self_hosted:
            return 0.0
        price = {
            "input": self.input,
            "cached_input": self.cache_read,
            "reasoning": self.output,
            "answer": self.output,
        }[segment]
        if price is None or price <= 0 or not math.isfinite(price):
            return None  # 0 means unknown, never free
        return price / 1_000_000


class Cost(BaseModel):
    """Cost in USD by segment; ``None`` where a price needed is unknown."""

    input: float | None = 0.0
    cached_input: float | None = 0.0
    reasoning: float | None = 0.0
    answer: float | None = 0.0
    unknown_prices: list[str] = []

    @property
    def total(self) -> float | None:
        parts = [self.input, self.cached_input, self.reasoning, self.answer]
        if any(p is None for p in parts):
            return None
        return math.fsum(p for p in parts if p is not None)

    def by_segment(self) -> dict[str, float | None]:
        return {s: getattr(self, s) for s in SEGMENTS}

    def __add__(self, other: Cost) -> Cost:
        def add(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a + b

        return Cost(
            input=add(self.input, other.input),
            cached_input=add(self.cached_input, other.cached_input),
            reasoning=add(self.reasoning, other.reasoning),
            answer=add(self.answer, other.answer),
            unknown_prices=sorted(set(self.unknown_prices) | set(other.unknown_prices)),
        )


def cost_of(tokens: TokenCounts, prices: PriceSheet) -> Cost:
    """The cost of ``tokens`` at ``prices``; a segment with tokens and no price is unknown."""
    values: dict[str, float | None] = {}
    unknown: list[str] = []
    for segment, count in tokens.segments().items():
        rate = prices.per_token(segment)
        if count == 0:
            values[segment] = 0.0
        elif rate is None:
            values[segment] = None
            unknown.append(segment)
        else:
            values[segment] = count * rate
    return Cost(**values, unknown_prices=unknown)


def sum_costs(costs: Iterable[Cost]) -> Cost:
    total = Cost()
    for cost in costs:
        total = total + cost
    return total


def cost_from_json(data: dict[str, float | None] | None) -> Cost:
    """A stored cost (``{"input": ..., ..., "unknown_prices": [...]}``)."""
    if not data:
        return Cost(input=None, cached_input=None, reasoning=None, answer=None)
    return Cost.model_validate(data)
