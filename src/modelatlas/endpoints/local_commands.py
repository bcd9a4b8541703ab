"""``modelatlas local start|stop|status``: the embedded llama.cpp server."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from modelatlas.endpoints import local

app = typer.Typer(
    help="The embedded local model (llama.cpp server over SmolLM2-135M-Instruct).",
    no_args_is_help=True,
)
console = Console()


@app.command()
def start(
    port: int = typer.Option(0, help="Port on 127.0.0.1 (0: a free one)."),
    n_ctx: int = typer.Option(8192, help="Context size the server allocates."),
    timeout: float = typer.Option(180.0, help="Seconds to wait until it answers."),
    threads: int = typer.Option(0, help="llama.cpp threads (0: one fewer than the cores)."),
) -> None:
    """Start the local model server in the background and wait until it answers."""
    already = local.status()
    server = local.start(port=port or None, n_ctx=n_ctx, threads=threads or None, timeout=timeout)
    verb = "already running" if already else "started"
    console.print(
        f"local model {verb}: [bold]{server.base_url}[/] (pid {server.pid}, "
        f"endpoint {local.LOCAL_ENDPOINT_SLUG}, log {server.log_path})"
    )


@app.command()
def stop() -> None:
    """Stop the local model server."""
    server = local.stop()
    console.print("local model stopped" if server else "local model was not running")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Say whether the local model server runs, and where."""
    server = local.status()
    if as_json:
        described = local.describe(server) if server else {"running": False}
        typer.echo(json.dumps(described, default=str))
        return
    if server is None:
        console.print("local model: not running (start it with: modelatlas local start)")
        raise typer.Exit(code=1)
    console.print(f"local model: running at {server.base_url} (pid {server.pid})")
