"""Where modelatlas keeps its files, and which database it uses.

Every location can be set from the environment:

- ``MODELATLAS_HOME``: state folder (default ``~/.modelatlas``): database, logs, caches.
- ``MODELATLAS_DB``: SQLAlchemy URL or a SQLite file path
  (default ``$MODELATLAS_HOME/modelatlas.db``).
- ``MODELATLAS_DATA_DIR``: a local mirror folder of benchmark datasets.
- ``MODELATLAS_CATALOG``: a user catalog TOML file (default ``$MODELATLAS_HOME/catalog.toml``).
"""

from __future__ import annotations

import os
from pathlib import Path


def home_dir() -> Path:
    """The state folder, created on first use."""
    path = Path(os.environ.get("MODELATLAS_HOME", Path.home() / ".modelatlas")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url(explicit: str | None = None) -> str:
    """The store's SQLAlchemy URL: an explicit value, else ``MODELATLAS_DB``, else SQLite in home.

    A bare path (no ``://``) means a SQLite file at that path.
    """
    value = explicit or os.environ.get("MODELATLAS_DB")
    if not value:
        return f"sqlite:///{home_dir() / 'modelatlas.db'}"
    if "://" not in value:
        path = Path(value).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    if value.startswith("postgresql://"):
        # psycopg 3 is the driver we ship.
        return "postgresql+psycopg://" + value.removeprefix("postgresql://")
    return value


def data_dir() -> Path | None:
    """A local mirror of benchmark datasets, when one is configured."""
    value = os.environ.get("MODELATLAS_DATA_DIR")
    return Path(value).expanduser() if value else None


def user_catalog_path() -> Path:
    """The user's own catalog file (endpoints, models, prices) in TOML."""
    value = os.environ.get("MODELATLAS_CATALOG")
    return Path(value).expanduser() if value else home_dir() / "catalog.toml"


def run_dir() -> Path:
    """Runtime files of managed processes (pid files, logs)."""
    path = home_dir() / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path
