"""From a catalog slug (or an ad hoc URL) to what the client needs to call an endpoint.

The one place that knows managed endpoints: ``llama-cpp`` is the embedded local model and
``sim`` a simulated endpoint; their URLs exist only while they run (:func:`serve_managed`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from modelatlas.catalog.repository import Catalog
from modelatlas.catalog.schema import Endpoint
from modelatlas.endpoints import local
from modelatlas.endpoints.client import EndpointSpec
from modelatlas.endpoints.sim import SimConfig, running_sim
from modelatlas.errors import UserError


@contextlib.contextmanager
def serve_managed(managed: str | None, *, sim: SimConfig | None = None) -> Iterator[str | None]:
    """The base URL of a managed endpoint for the block, or None when ``managed`` is None.

    ``llama-cpp`` reuses a running local server (left running) or starts one (stopped after);
    ``sim`` starts a simulated endpoint subprocess with ``sim`` (default settings if None).
    """
    if managed == "llama-cpp":
        with local.running_local_server() as server:
            yield server.base_url
    elif managed == "sim":
        with running_sim(sim) as url:
            yield url
    elif managed is None:
        yield None
    else:
        raise UserError(f"Unknown managed endpoint kind '{managed}' (llama-cpp or sim).")


def ignore_eos_params(managed: str | None) -> dict[str, object]:
    """Body fields, beside ``ignore_eos`` itself, that make a managed endpoint generate until
    ``max_tokens``: the embedded llama-cpp-python server ignores ``ignore_eos``, so a
    ``logit_bias`` bans its end-of-turn tokens (:func:`local.ignore_eos_params`)."""
    return local.ignore_eos_params() if managed == "llama-cpp" else {}


@dataclass(frozen=True)
class ResolvedEndpoint:
    """An endpoint ready to call: its catalog slug (or ``adhoc``), entry and client spec."""

    slug: str
    spec: EndpointSpec
    endpoint: Endpoint | None
    model_slug: str | None


@contextlib.contextmanager
def open_endpoint(
    catalog: Catalog,
    slug: str | None = None,
    *,
    base_url: str | None = None,
    model: str | None = None,
    api_key_env: str | None = None,
) -> Iterator[ResolvedEndpoint]:
    """Resolve ``--endpoint SLUG`` or ``--base-url URL --model ID [--api-key-env NAME]``.

    With neither, the default endpoint (the embedded local model) is used. A managed endpoint
    is served for the duration of the block (see :func:`serve_managed`).
    """
    if base_url is not None or model is not None:
        if slug is not None:
            raise UserError("Give either --endpoint or --base-url/--model, not both.")
        if not base_url or not model:
            raise UserError("An ad hoc endpoint needs both --base-url and --model.")
        spec = EndpointSpec(base_url=base_url, model=model, api_key_env=api_key_env)
        yield ResolvedEndpoint(slug="adhoc", spec=spec, endpoint=None, model_slug=None)
        return
    entry = catalog.default_endpoint() if slug is None else catalog.endpoint(slug)
    conn = catalog.connection(entry.slug)
    if conn.managed is None and not conn.base_url:
        raise UserError(
            f"The endpoint '{entry.slug}' has no base URL in the catalog.",
            hint="Give one with --base-url, or set base_url in your catalog file.",
        )
    with serve_managed(conn.managed) as served:
        spec = EndpointSpec(
            base_url=served or str(conn.base_url),
            model=conn.api_model_id,
            api_key_env=api_key_env or conn.api_key_env,
        )
        yield ResolvedEndpoint(slug=entry.slug, spec=spec, endpoint=entry, model_slug=entry.model)
