"""The store: migrations build the same schema as the table modules, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.util.exc import CommandError
from sqlalchemy import create_engine, select, text

from modelatlas.errors import UserError
from modelatlas.store.base import alembic_config, open_store
from modelatlas.store.run_tables import CallRow, RunRow


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A fresh database on the session's PostgreSQL server for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """The same tests on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return str(request.getfixturevalue("pg_url"))


def test_open_store_migrates_and_matches_the_table_modules(store_url: str) -> None:
    store = open_store(store_url)
    assert {"runs", "calls", "alembic_version"} <= set(store.table_names())
    # `alembic check` fails when the table modules declare something no migration creates.
    try:
        command.check(alembic_config(store_url))
    except CommandError as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"migrations are behind the table modules: {exc}")
    store.close()


def test_runs_and_calls_round_trip(store_url: str) -> None:
    store = open_store(store_url)
    with store.session() as session:
        run = RunRow(id="run-1", kind="demo", endpoint_slug="sim/simulated", client_version="0")
        run.calls.append(
            CallRow(
                request_id="req-1",
                endpoint_slug="sim/simulated",
                api_model="sim",
                started_at=datetime.now(UTC),
                stream=True,
                ok=True,
                ttft_s=0.05,
                output_tokens=42,
                answer_text="<script>alert(1)</script> ünïcode",
                chunks={"t": [0.05, 0.06], "tokens": [1, 41]},
            )
        )
        session.add(run)
    reopened = open_store(store_url)  # a second open migrates nothing and sees the data
    with reopened.session() as session:
        call = session.scalars(select(CallRow).where(CallRow.request_id == "req-1")).one()
        assert call.run.kind == "demo"
        assert call.answer_text == "<script>alert(1)</script> ünïcode"
        assert call.chunks == {"t": [0.05, 0.06], "tokens": [1, 41]}
        assert call.started_at.tzinfo is not None or store_url.startswith("sqlite")
    store.close()
    reopened.close()


def test_unreachable_database_is_one_clear_error_without_the_password() -> None:
    url = "postgresql+psycopg://user:s3cret@127.0.0.1:1/nowhere"
    with pytest.raises(UserError) as info:
        open_store(url)
    message = str(info.value)
    assert "127.0.0.1:1/nowhere" in message
    assert "s3cret" not in message


def test_bare_path_means_sqlite_file(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    path = f"{tmp_path}/sub/dir/my.db"
    monkeypatch.setenv("MODELATLAS_DB", path)
    store = open_store()
    assert store.url == f"sqlite:///{path}"
    assert "runs" in store.table_names()
    store.close()
