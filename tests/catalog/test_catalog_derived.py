"""Derived facts: size class, blended price, price tier, A4 pages, comparison classes."""

from __future__ import annotations

import pytest

from modelatlas.catalog import derived
from modelatlas.catalog.derived import PriceTier, SizeClass
from modelatlas.catalog.repository import Catalog
from modelatlas.catalog.schema import Creator, Endpoint, Model, Prices, Provider


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (135_000_000, SizeClass.TINY),
        (4_000_000_000, SizeClass.TINY),
        (4_440_000_000, SizeClass.TINY),  # the reference site's "tiny" 4.44B model
        (4_499_999_999, SizeClass.TINY),
        (4_500_000_000, SizeClass.SMALL),  # rounds to 5B
        (8_030_000_000, SizeClass.SMALL),
        (40_000_000_000, SizeClass.SMALL),
        (40_400_000_000, SizeClass.SMALL),
        (40_600_000_000, SizeClass.MEDIUM),
        (116_800_000_000, SizeClass.MEDIUM),
        (150_000_000_000, SizeClass.MEDIUM),
        (150_400_000_000, SizeClass.MEDIUM),
        (151_000_000_000, SizeClass.LARGE),
        (1_000_000_000_000, SizeClass.LARGE),
    ],
)
def test_size_class_boundaries(params: int, expected: SizeClass) -> None:
    assert derived.size_class(params) is expected


def test_size_class_unknown_without_parameter_count() -> None:
    assert derived.size_class(None) is None
    assert derived.size_class(0) is None


def test_blended_price_is_three_to_one() -> None:
    assert derived.blended_price(Prices(input=1.25, output=10.0)) == pytest.approx(3.4375)
    assert derived.blended_price(Prices(input=0.15, output=0.6)) == pytest.approx(0.2625)


@pytest.mark.parametrize(
    "prices",
    [
        None,
        Prices(),
        Prices(input=0, output=0),  # 0 means unknown, never free
        Prices(input=0.1, output=0),
        Prices(input=0.1),
        Prices(output=0.4),
    ],
)
def test_blended_price_unknown_when_a_side_is_missing_or_zero(prices: Prices | None) -> None:
    assert derived.blended_price(prices) is None
    assert derived.price_tier(derived.blended_price(prices)) is None


@pytest.mark.parametrize(
    ("blended", "tier"),
    [
        (0.01, PriceTier.LOW),
        (0.1375, PriceTier.LOW),  # GPT-5 nano: (3 x 0.05 + 0.4) / 4
        (0.1499, PriceTier.LOW),
        (0.15, PriceTier.MID),
        (0.6875, PriceTier.MID),
        (1.0, PriceTier.MID),
        (1.0001, PriceTier.HIGH),
        (3.4375, PriceTier.HIGH),
        (None, None),
        (0.0, None),
    ],
)
def test_price_tier(blended: float | None, tier: PriceTier | None) -> None:
    assert derived.price_tier(blended) is tier


@pytest.mark.parametrize(
    ("tokens", "pages", "label"),
    [
        (262_144, 384, "256k"),  # the reference site's example: 256k -> ~384 pages
        (256_000, 384, "256k"),
        (131_072, 192, "128k"),
        (128_000, 192, "128k"),
        (400_000, 600, "400k"),
        (8_192, 12, "8k"),
        (1_048_576, 1536, "1M"),
        (1_000_000, 1500, "1M"),
        (10_000_000, 15000, "10M"),
    ],
)
def test_context_pages(tokens: int, pages: int, label: str) -> None:
    assert derived.context_pages(tokens) == pages
    assert derived.context_label(tokens) == label


def test_context_pages_text() -> None:
    assert derived.context_pages_text(262_144) == "~384 A4 pages"
    assert derived.context_pages_text(1_048_576) == "~1,536 A4 pages"
    assert derived.context_pages_text(None) is None


def test_params_label() -> None:
    assert derived.params_label(4_440_000_000) == "4.4B"
    assert derived.params_label(135_000_000) == "135M"
    assert derived.params_label(1_000_000_000_000) == "1T"
    assert derived.params_label(None) is None


# -- comparison classes ----------------------------------------------------------------------


def _model(slug: str, **kw: object) -> Model:
    return Model.model_validate({"slug": slug, "name": slug, "creator": "lab", **kw})


def _endpoint(model: str, price_in: float, price_out: float, provider: str = "host") -> Endpoint:
    return Endpoint(
        slug=f"{provider}/{model}",
        provider=provider,
        model=model,
        api_model_id=model,
        prices=Prices(input=price_in, output=price_out),
    )


def _catalog(models: list[Model], endpoints: list[Endpoint]) -> Catalog:
    return Catalog(
        [Creator(slug="lab", name="Lab", first_party_providers=["lab-api"])],
        models,
        [Provider(slug="host", name="Host"), Provider(slug="lab-api", name="Lab API")],
        endpoints,
    )


OPEN_TINY_R = _model("open-tiny-r", reasoning=True, open_weights=True, total_params=4_440_000_000)
OPEN_TINY_NR = _model(
    "open-tiny-nr", reasoning=False, open_weights=True, total_params=3_800_000_000
)
OPEN_SMALL_NR = _model(
    "open-small-nr", reasoning=False, open_weights=True, total_params=8_000_000_000
)
OPEN_NO_PARAMS = _model("open-no-params", reasoning=False, open_weights=True)
PROP_HIGH_R = _model("prop-high-r", reasoning=True, open_weights=False)
PROP_HIGH_NR = _model("prop-high-nr", reasoning=False, open_weights=False)
PROP_LOW_NR = _model("prop-low-nr", reasoning=False, open_weights=False)
PROP_UNPRICED = _model("prop-unpriced", reasoning=True, open_weights=False)
OPEN_HIGH_PRICE = _model(
    "open-high", reasoning=False, open_weights=True, total_params=671_000_000_000
)

ALL = [
    OPEN_TINY_R,
    OPEN_TINY_NR,
    OPEN_SMALL_NR,
    OPEN_NO_PARAMS,
    PROP_HIGH_R,
    PROP_HIGH_NR,
    PROP_LOW_NR,
    PROP_UNPRICED,
    OPEN_HIGH_PRICE,
]
ENDPOINTS = [
    _endpoint("prop-high-r", 3.0, 15.0, "lab-api"),
    _endpoint("prop-high-nr", 1.25, 10.0, "lab-api"),
    _endpoint("prop-low-nr", 0.05, 0.4, "lab-api"),
    _endpoint("prop-unpriced", 0, 0, "lab-api"),  # 0 = unknown
    _endpoint("open-high", 1.0, 4.0),
    _endpoint("open-tiny-nr", 0.02, 0.05),
]


def test_reasoning_open_model_compared_with_both_kinds_in_its_size_class() -> None:
    cat = _catalog(ALL, ENDPOINTS)
    peers = cat.comparison_class(OPEN_TINY_R)
    assert peers.slugs == ["open-tiny-nr"]
    assert peers.basis == "open-weights"
    assert peers.size_class is SizeClass.TINY


def test_non_reasoning_model_compared_only_with_non_reasoning() -> None:
    cat = _catalog(ALL, ENDPOINTS)
    assert cat.comparison_class(OPEN_TINY_NR).slugs == []  # its only tiny peer reasons
    assert set(cat.comparison_class(PROP_HIGH_NR).slugs) == {"open-high"}


def test_proprietary_compared_with_proprietary_and_open_in_same_price_tier() -> None:
    cat = _catalog(ALL, ENDPOINTS)
    cls = cat.comparison_class(PROP_HIGH_R)
    assert cls.basis == "proprietary"
    assert cls.price_tier is PriceTier.HIGH
    assert set(cls.slugs) == {"prop-high-nr", "open-high"}


def test_open_weights_never_compared_across_size_classes() -> None:
    cat = _catalog(ALL, ENDPOINTS)
    assert "open-small-nr" not in cat.comparison_class(OPEN_TINY_R).slugs
    assert cat.comparison_class(OPEN_SMALL_NR).slugs == []  # a class with one member


def test_proprietary_without_price_has_no_class() -> None:
    cat = _catalog(ALL, ENDPOINTS)
    cls = cat.comparison_class(PROP_UNPRICED)
    assert cls.price_tier is None
    assert len(cls) == 0
    assert "without a known price" in cls.description


def test_open_model_without_parameter_count_has_no_class() -> None:
    cat = _catalog(ALL, ENDPOINTS)
    cls = cat.comparison_class(OPEN_NO_PARAMS)
    assert cls.size_class is None
    assert list(cls) == []


def test_model_price_prefers_first_party_else_median() -> None:
    third = [_endpoint("open-high", 1.0, 4.0, "a"), _endpoint("open-high", 3.0, 6.0, "b")]
    third.append(_endpoint("open-high", 0, 0, "c"))  # unknown price: not in the median
    price = derived.model_price(OPEN_HIGH_PRICE, third, None)
    assert price is not None
    assert price.prices.input == 2.0 and price.prices.output == 5.0
    assert price.basis == "median of 2 endpoints"
    lab = Creator(slug="lab", name="Lab", first_party_providers=["lab-api"])
    own = _endpoint("open-high", 0.5, 1.0, "lab-api")
    price = derived.model_price(OPEN_HIGH_PRICE, [*third, own], lab)
    assert price is not None and price.prices.input == 0.5
    assert price.basis.startswith("first-party")


def test_self_hosted_endpoint_is_not_a_price() -> None:
    local = Endpoint(
        slug="local/x",
        provider="local",
        model="open-tiny-nr",
        api_model_id="x",
        prices=Prices(input=0, output=0),
        self_hosted=True,
    )
    assert derived.model_price(OPEN_TINY_NR, [local], None) is None
