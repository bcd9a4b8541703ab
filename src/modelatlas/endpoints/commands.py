"""``modelatlas local`` (embedded llama.cpp engine) and ``modelatlas sim`` (simulated endpoint)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from modelatlas.errors import UserError

local_app = typer.Typer(
    help="The embedded local model (llama.cpp server over SmolLM2-135M).", no_args_is_help=True
)
sim_app = typer.Typer(
    help="The simulated OpenAI-compatible endpoint, for tests and calibration.",
    no_args_is_help=True,
)


@sim_app.command("serve")
def sim_serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 8765,
    log: Annotated[
        Path | None, typer.Option(help="Append one JSON line per request to this file.")
    ] = None,
    model: Annotated[str, typer.Option(help="Model id to report.")] = "sim-model",
    ttft_s: Annotated[float, typer.Option(help="Seconds from receipt to the first token.")] = 0.05,
    itl_s: Annotated[float, typer.Option(help="Seconds between token chunks.")] = 0.01,
    tokens_per_chunk: Annotated[int, typer.Option(help="o200k tokens per chunk.")] = 1,
    output_tokens: Annotated[
        int | None, typer.Option(help="Answer tokens (default: the request's max_tokens).")
    ] = None,
    default_output_tokens: Annotated[
        int, typer.Option(help="Answer tokens when the request sets no max_tokens.")
    ] = 64,
    reasoning_tokens: Annotated[int, typer.Option(help="Reasoning tokens sent first.")] = 0,
    reasoning_field: Annotated[
        str, typer.Option(help="reasoning_content, reasoning, think (inline tags) or hidden.")
    ] = "reasoning_content",
    usage: Annotated[bool, typer.Option(help="Report usage (streams: when asked).")] = True,
    usage_token_factor: Annotated[
        float, typer.Option(help="Reported completion tokens = emitted x factor.")
    ] = 1.0,
    role_chunk: Annotated[bool, typer.Option(help="Send a token-less role chunk first.")] = True,
    reject_stream_options: Annotated[
        bool, typer.Option(help="Answer 400 to requests that set stream_options.")
    ] = False,
    api_key_env: Annotated[
        str | None, typer.Option(help="Require the API key held in this environment variable.")
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="Inject a fault, repeatable: KIND[:key=value,...], KIND one of rate_limit, "
            "server_error, drop, malformed; keys every, first, rate, status, retry_after_s, "
            "after_chunks. Example: rate_limit:every=3,retry_after_s=2"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for fault rates.")] = 0,
) -> None:
    """Serve the simulated endpoint at http://HOST:PORT/v1 until interrupted."""
    from modelatlas.endpoints.sim import Fault, SimConfig, serve

    try:
        faults = [Fault.parse(spec) for spec in fault or []]
        config = SimConfig.model_validate(
            {
                "model": model,
                "ttft_s": ttft_s,
                "itl_s": itl_s,
                "tokens_per_chunk": tokens_per_chunk,
                "output_tokens": output_tokens,
                "default_output_tokens": default_output_tokens,
                "reasoning_tokens": reasoning_tokens,
                "reasoning_field": reasoning_field,
                "usage": usage,
                "usage_token_factor": usage_token_factor,
                "role_chunk": role_chunk,
                "reject_stream_options": reject_stream_options,
                "api_key": _key_from_env(api_key_env),
                "faults": faults,
                "seed": seed,
            }
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise UserError(f"Invalid simulator option: {problems}") from exc
    except ValueError as exc:
        raise UserError(f"Invalid simulator option: {exc}") from exc
    serve(config, host, port, log)


def _key_from_env(name: str | None) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise UserError(f"The environment variable {name} is not set.")
    return value
