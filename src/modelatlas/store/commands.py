"""``modelatlas db``: create, upgrade and inspect the store."""

from __future__ import annotations

import typer
from rich.console import Console

from modelatlas.store.base import open_store, redact_url

app = typer.Typer(help="The store (SQLite by default, PostgreSQL by URL).", no_args_is_help=True)
console = Console()

DbOption = typer.Option(None, "--db", help="Database URL or SQLite path (default: MODELATLAS_DB).")


@app.command()
def upgrade(db: str | None = DbOption) -> None:
    """Create the store or bring it to the newest schema."""
    store = open_store(db)
    console.print(f"store ready: {redact_url(store.url)} ({len(store.table_names())} tables)")
    store.close()


@app.command()
def info(db: str | None = DbOption) -> None:
    """Show which database is used and what it holds."""
    from sqlalchemy import func, select

    from modelatlas.store.run_tables import CallRow, RunRow

    store = open_store(db)
    with store.session() as session:
        runs = session.scalar(select(func.count()).select_from(RunRow)) or 0
        calls = session.scalar(select(func.count()).select_from(CallRow)) or 0
    console.print(f"database: {redact_url(store.url)}")
    console.print(f"runs: {runs}, calls: {calls}")
    store.close()
