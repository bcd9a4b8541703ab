"""The catalog: what models, creators, providers and endpoints exist, and what they cost.

Public API::

    from modelatlas.catalog import load_catalog, DEFAULT_ENDPOINT
    catalog = load_catalog(store)            # built-in + imported facts + user file
    model = catalog.model("qwen3-vl-4b-reasoning")
    endpoint = catalog.endpoint(DEFAULT_ENDPOINT)
"""

from modelatlas.catalog.derived import (
    ComparisonClass,
    ModelPrice,
    PriceTier,
    SizeClass,
    blended_price,
    comparison_class,
    context_pages,
    context_pages_text,
    price_tier,
    size_class,
)
from modelatlas.catalog.repository import (
    Catalog,
    EndpointConnection,
    import_source,
    list_conflicts,
    load_catalog,
)
from modelatlas.catalog.schema import (
    DEFAULT_ENDPOINT,
    CatalogFile,
    Creator,
    Endpoint,
    Model,
    PricePoint,
    Prices,
    Provider,
)

__all__ = [
    "DEFAULT_ENDPOINT",
    "Catalog",
    "CatalogFile",
    "ComparisonClass",
    "Creator",
    "Endpoint",
    "EndpointConnection",
    "Model",
    "ModelPrice",
    "PricePoint",
    "PriceTier",
    "Prices",
    "Provider",
    "SizeClass",
    "blended_price",
    "comparison_class",
    "context_pages",
    "context_pages_text",
    "import_source",
    "list_conflicts",
    "load_catalog",
    "price_tier",
    "size_class",
]
