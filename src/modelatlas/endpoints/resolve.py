"""From a catalog slug (or an ad hoc URL) to what the client needs to call an endpoint.

The one place that knows managed endpoints: ``local/smollm2-135m`` is served by the embedded
llama.cpp engine, whose URL is known only once it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelatlas.catalog.repository import Catalog
from modelatlas.catalog.schema import Endpoint
from modelatlas.endpoints import local
from modelatlas.endpoints.client import EndpointSpec
from modelatlas.errors import UserError


@dataclass(frozen=True)
class ResolvedEndpoint:
    """An endpoint ready to call: its catalog slug (or ``adhoc``), entry and client spec."""

    slug: str
    spec: EndpointSpec
    endpoint: Endpoint | None
    model_slug: str | None


def resolve_endpoint(
    catalog: Catalog,
    slug: str | None = None,
    *,
    base_url: str | None = None,
    model: str | None = None,
    api_key_env: str | None = None,
    start_local: bool = True,
) -> ResolvedEndpoint:
    """Resolve ``--endpoint SLUG`` or ``--base-url URL --model ID [--api-key-env NAME]``.

    With neither, the default endpoint (the embedded local model) is used. A managed local
    endpoint is started when ``start_local`` (else it must already run).
    """
    if base_url is not None or model is not None:
        if slug is not None:
            raise UserError("Give either --endpoint or --base-url/--model, not both.")
        if not base_url or not model:
            raise UserError("An ad hoc endpoint needs both --base-url and --model.")
        spec = EndpointSpec(base_url=base_url, model=model, api_key_env=api_key_env)
        return ResolvedEndpoint(slug="adhoc", spec=spec, endpoint=None, model_slug=None)
    entry = catalog.default_endpoint() if slug is None else catalog.endpoint(slug)
    conn = catalog.connection(entry.slug)
    if conn.managed == "llama-cpp":
        url = local.start().base_url if start_local else local.local_base_url()
    elif conn.base_url:
        url = conn.base_url
    else:
        raise UserError(
            f"The endpoint '{entry.slug}' has no base URL in the catalog.",
            hint="Give one with --base-url, or set base_url in your catalog file.",
        )
    spec = EndpointSpec(
        base_url=url, model=conn.api_model_id, api_key_env=api_key_env or conn.api_key_env
    )
    return ResolvedEndpoint(slug=entry.slug, spec=spec, endpoint=entry, model_slug=entry.model)
