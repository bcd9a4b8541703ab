"""The one ``modelatlas`` command tree.

Each subcommand group lives beside the code it drives (``catalog/commands.py``,
``endpoints/commands.py``, ...) and is a thin shell over that package. This module only
assembles them and turns :class:`~modelatlas.errors.UserError` into one clear message and a
non-zero exit code.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from modelatlas import __version__
from modelatlas.catalog.commands import app as catalog_app
from modelatlas.catalog.reported import app as reported_app
from modelatlas.endpoints.call_commands import call
from modelatlas.endpoints.commands import sim_app
from modelatlas.endpoints.local_commands import app as local_app
from modelatlas.errors import UserError
from modelatlas.evals.commands import app as eval_app
from modelatlas.index.commands import app as index_app
from modelatlas.perf.commands import app as perf_app
from modelatlas.store.commands import app as db_app
from modelatlas.web.commands import serve, site_app

app = typer.Typer(
    name="modelatlas",
    help="Independent analysis of AI models and the endpoints that serve them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(catalog_app, name="catalog")
app.add_typer(local_app, name="local")
app.add_typer(sim_app, name="sim")
app.add_typer(db_app, name="db")
app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")
app.add_typer(perf_app, name="perf")
app.add_typer(reported_app, name="reported")
app.command(name="call")(call)
app.command(name="serve")(serve)
app.add_typer(site_app, name="site")


@app.command()
def demo(
    db: str | None = typer.Option(None, "--db", help="Database URL or SQLite path."),
    max_tokens: int = typer.Option(128, help="max_tokens of each request."),
) -> None:
    """Measure the embedded local model end to end and print what was measured."""
    from modelatlas.demo import run_demo

    run_demo(db=db, max_tokens=max_tokens)


@app.command()
def version() -> None:
    """Print the modelatlas version."""
    typer.echo(__version__)


err_console = Console(stderr=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command tree, printing user errors without a traceback."""
    try:
        app(args=argv, standalone_mode=True)
    except UserError as exc:
        err_console.print(
            f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True
        )
        if exc.hint:
            err_console.print(exc.hint, highlight=False, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
