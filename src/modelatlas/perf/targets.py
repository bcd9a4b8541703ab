"""Which endpoint a perf run measures: a catalog slug or an explicit URL, managed ones started.

- ``--endpoint SLUG`` resolves through the catalog (built-in + user file). Managed endpoints are
  started for the run: ``llama-cpp`` (the embedded local model; left running if it already was)
  and ``sim`` (a simulated endpoint subprocess with default settings).
- ``--base-url URL --model ID [--api-key-env NAME]`` measures any OpenAI-compatible endpoint;
  its slug is ``--endpoint`` when given, else ``custom/<model>``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from modelatlas.catalog.schema import DEFAULT_ENDPOINT
from modelatlas.endpoints.client import EndpointSpec
from modelatlas.errors import UserError


@dataclass
class Target:
    slug: str
    spec: EndpointSpec
    model_slug: str | None = None
    accepts_images: bool | None = None
    """From the catalog's input modalities; ``None`` when unknown."""
    managed: str | None = None
    request_params: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def open_target(
    endpoint: str | None = None,
    *,
    base_url: str | None = None,
    model: str | None = None,
    api_key_env: str | None = None,
) -> Iterator[Target]:
    """Resolve (and, when managed, start) the endpoint for the duration of the block."""
    if base_url is not None:
        if not model:
            raise UserError("--base-url needs --model (the API model id to send).")
        spec = EndpointSpec(base_url=base_url, model=model, api_key_env=api_key_env)
        yield Target(slug=endpoint or f"custom/{model}", spec=spec)
        return
    slug = endpoint or DEFAULT_ENDPOINT
    from modelatlas.catalog import load_catalog

    catalog = load_catalog()
    conn = catalog.connection(slug)
    entry = catalog.endpoint(slug)
    model_entry = catalog.find_model(entry.model)
    accepts: bool | None = None
    if model_entry is not None and model_entry.input_modalities:
        accepts = "image" in model_entry.input_modalities
    common: dict[str, Any] = {
        "slug": slug,
        "model_slug": entry.model,
        "accepts_images": accepts,
        "managed": conn.managed,
        "request_params": dict(conn.request_params),
    }
    if conn.managed is not None:
        from modelatlas.endpoints.resolve import serve_managed

        with serve_managed(conn.managed) as url:
            spec = EndpointSpec(base_url=str(url), model=conn.api_model_id)
            yield Target(spec=spec, **common)
        return
    if not conn.base_url:
        raise UserError(
            f"The endpoint {slug} has no base URL in the catalog.",
            hint="Give one with --base-url URL --model ID, or add it to your catalog file.",
        )
    spec = EndpointSpec(
        base_url=conn.base_url, model=conn.api_model_id, api_key_env=conn.api_key_env
    )
    yield Target(spec=spec, **common)
