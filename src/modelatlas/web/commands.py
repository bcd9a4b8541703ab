"""``modelatlas serve`` (the web app) and ``modelatlas site build OUT/`` (the static site)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from modelatlas.errors import UserError

site_app = typer.Typer(
    name="site", help="The static site (the web app's pages as files).", no_args_is_help=True
)


@site_app.callback()
def _site() -> None:
    """The static site (the web app's pages as files)."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: Annotated[str | None, typer.Option("--db", help="Database URL or SQLite path.")] = None,
    refresh: Annotated[
        float, typer.Option(help="Seconds between checks for new data in the store.")
    ] = 2.0,
) -> None:
    """Serve the model pages, leaderboard, compare, provider and creator pages and JSON API."""
    import uvicorn

    from modelatlas.store.base import open_store, redact_url
    from modelatlas.web.app import TOKEN_ENV, create_app

    if not 0 < port < 65536:
        raise UserError(f"--port {port} is not a valid port (1-65535).")
    console = Console(stderr=True)
    if not _is_loopback(host):
        console.print(
            f"[yellow]warning:[/] binding {host}: the pages are reachable from other machines. "
            f"Endpoints that start work still need {TOKEN_ENV}.",
            highlight=False,
        )
    store = open_store(db)
    app = create_app(store, refresh_seconds=refresh)
    console.print(
        f"modelatlas: http://{host}:{port}/ (API docs at /docs) over {redact_url(store.url)}",
        highlight=False,
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        store.close()


@site_app.command("build")
def build(
    out: Annotated[Path, typer.Argument(help="Folder to write the site into.")],
    db: Annotated[str | None, typer.Option("--db", help="Database URL or SQLite path.")] = None,
    no_store: Annotated[
        bool, typer.Option("--builtin-only", help="Only the built-in catalog (no database).")
    ] = False,
) -> None:
    """Write every page as static HTML (works offline, from file:// too), plus CSV and JSON."""
    from rich.progress import Progress

    from modelatlas.store.base import open_store
    from modelatlas.web.site import build_site

    console = Console(stderr=True)
    store = None if no_store else open_store(db)
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("model pages", total=None)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = build_site(out, store, progress=step)
    finally:
        if store is not None:
            store.close()
    console.print(
        f"wrote {report.files:,} files ({report.bytes / 1e6:,.1f} MB) for {report.models} models "
        f"to {report.out} in {report.seconds:.1f} s; open {report.out / 'index.html'}",
        highlight=False,
    )
