"""The catalog tables and the import work the same on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from modelatlas.catalog.repository import import_source, list_conflicts, load_catalog
from modelatlas.store.base import Store

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_catalog_url(postgres_url: str) -> Iterator[str]:
    name = f"cat_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_import_and_load_on_postgres(
    pg_catalog_url: str,
    models_dev_path: Path,
    litellm_path: Path,
    store_factory: Callable[[str], Store],
) -> None:
    store = store_factory(pg_catalog_url)
    try:
        first = import_source(store, "models-dev", models_dev_path)
        assert first.entries > 4000 and first.bad_row_count == 0
        second = import_source(store, "models-dev", models_dev_path)
        assert (second.added, second.changed, second.removed) == (0, 0, 0)
        import_source(store, "litellm", litellm_path)
        assert list_conflicts(store)
        cat = load_catalog(store, use_user_catalog=False)
        assert cat.model("qwen3-vl-4b-reasoning").total_params == 4_440_000_000
        assert cat.endpoint("openrouter/openai/gpt-5").model == "gpt-5"
        assert cat.model("gpt-5").open_weights is False  # JSON booleans stay booleans
    finally:
        store.close()
