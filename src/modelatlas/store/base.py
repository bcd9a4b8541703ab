"""The store: one SQLAlchemy 2 database (SQLite file by default, PostgreSQL by URL).

The schema is owned by Alembic migrations (``store/migrations``); :func:`open_store` brings a
database to the newest revision before handing it out, so a new file or an old one both work.
Table modules (``catalog_tables``, ``run_tables``) declare their tables on :class:`Base`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from modelatlas.errors import UserError
from modelatlas.settings import database_url


class Base(DeclarativeBase):
    """Declarative base of every table in the store."""


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the store writes."""
    return datetime.now(UTC)


MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe to print."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL has nothing we can safely show
        return "<unparseable database URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings the store relies on."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise UserError(f"Cannot use database {redact_url(url)}: {exc}") from exc
    return engine


def alembic_config(url: str) -> Any:
    """An Alembic config pointing at the packaged migrations and ``url``."""
    from alembic.config import Config

    cfg = Config(stdout=sys.stdout)
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: newest)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


class Store:
    """A database with the newest schema, and sessions on it."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def table_names(self) -> list[str]:
        """Tables present in the database (for diagnostics)."""
        return sorted(inspect(self.engine).get_table_names())

    def close(self) -> None:
        self.engine.dispose()


def import_table_modules() -> None:
    """Import every ``store/*_tables.py`` module, registering its tables on ``Base.metadata``."""
    import importlib
    import pkgutil

    import modelatlas.store as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name.endswith("_tables"):
            importlib.import_module(f"modelatlas.store.{info.name}")


def open_store(url: str | None = None, *, migrate: bool = True) -> Store:
    """Open the store at ``url`` (else ``MODELATLAS_DB``, else the SQLite file in home).

    With ``migrate`` (the default) the schema is upgraded to the newest revision first.
    An unreachable or unusable database raises :class:`UserError` naming it (password hidden).
    """
    resolved = database_url(url)
    import_table_modules()
    engine = make_engine(resolved)
    try:
        with engine.connect():
            pass
        if migrate:
            upgrade(resolved)
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise UserError(f"Cannot open database {redact_url(resolved)}: {reason}") from exc
    return Store(resolved, engine)
