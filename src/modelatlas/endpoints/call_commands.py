"""``modelatlas call``: send one prompt to an endpoint and show everything the client measured."""

from __future__ import annotations

import asyncio
import json

import typer
from rich.console import Console
from rich.table import Table

from modelatlas.catalog.repository import load_catalog
from modelatlas.endpoints.client import ChatRequest, ClientOptions, EndpointClient, EndpointSpec
from modelatlas.endpoints.records import CallRecord
from modelatlas.endpoints.resolve import open_endpoint
from modelatlas.store.base import open_store

console = Console()


async def _call(spec: EndpointSpec, options: ClientOptions, request: ChatRequest) -> CallRecord:
    async with EndpointClient(spec, options) as client:
        return await client.chat(request)


def call(
    prompt: str = typer.Argument("Say hello in five words.", help="The user message."),
    endpoint: str | None = typer.Option(
        None, "--endpoint", "-e", help="Catalog endpoint slug (default: local/smollm2-135m)."
    ),
    base_url: str | None = typer.Option(None, help="Ad hoc endpoint base URL (…/v1)."),
    model: str | None = typer.Option(None, help="Ad hoc endpoint's API model id."),
    api_key_env: str | None = typer.Option(None, help="Name of the env var holding the key."),
    max_tokens: int = typer.Option(256, help="max_tokens of the request."),
    temperature: float | None = typer.Option(None, help="Sampling temperature."),
    stream: bool = typer.Option(True, "--stream/--no-stream", help="Stream the response."),
    retries: int = typer.Option(3, help="Attempts at most (with backoff)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole call record as JSON."),
    db: str | None = typer.Option(None, "--db", help="Database URL (for imported catalog facts)."),
) -> None:
    """Send one prompt and print timings, tokens and the answer."""
    store = open_store(db) if db else None
    catalog = load_catalog(store)
    request = ChatRequest(
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=temperature,
        stream=stream,
    )
    with open_endpoint(
        catalog, endpoint, base_url=base_url, model=model, api_key_env=api_key_env
    ) as target:
        record = asyncio.run(_call(target.spec, ClientOptions(max_attempts=retries), request))
    record.raise_for_error()
    if as_json:
        data = record.model_dump(mode="json")
        data.update(
            ttft_s=record.ttft_s,
            ttfat_s=record.ttfat_s,
            output_tokens=record.output_tokens,
            output_speed_tps=record.output_speed_tps,
            e2e_s=record.e2e_s,
        )
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(
        title=f"{target.slug}: one {'streamed ' if stream else ''}call", show_header=False
    )
    rows = [
        ("TTFT (s)", record.ttft_s),
        ("TTFAT (s)", record.ttfat_s),
        ("end-to-end (s)", record.e2e_s),
        ("output tokens", record.output_tokens),
        ("output speed (tok/s)", record.output_speed_tps),
        ("reasoning tokens (o200k)", record.reasoning_tokens_o200k),
        ("server usage", record.usage.model_dump() if record.usage else "not sent"),
        ("finish reason", record.finish_reason),
        ("attempts", record.attempts),
    ]
    for name, value in rows:
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        table.add_row(name, shown)
    console.print(table)
    console.print(record.answer, markup=False, highlight=False)
