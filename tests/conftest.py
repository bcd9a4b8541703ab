"""Shared fixtures: an isolated MODELATLAS_HOME per test, and a real PostgreSQL server.

PostgreSQL comes from Debian's packages (``make test`` installs them); this file starts a
throw-away cluster on 127.0.0.1 for the session. With ``MODELATLAS_REQUIRE_POSTGRES=1`` (set by
``make test`` and so by CI) a missing server is a failure, otherwise those tests are skipped.
``MODELATLAS_TEST_PG_URL`` points the tests at an existing server instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own state folder and SQLite store, never the user's."""
    home = tmp_path / "modelatlas-home"
    monkeypatch.setenv("MODELATLAS_HOME", str(home))
    monkeypatch.delenv("MODELATLAS_DB", raising=False)
    monkeypatch.delenv("MODELATLAS_CATALOG", raising=False)
    return home


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"../shared not found at {SHARED}")
    return SHARED


def _require_or_skip(env: str, reason: str) -> None:
    if os.environ.get(env) == "1":
        pytest.fail(f"{reason} ({env}=1)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a real PostgreSQL database for this test session."""
    existing = os.environ.get("MODELATLAS_TEST_PG_URL")
    if existing:
        yield existing
        return
    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdbs:
        _require_or_skip("MODELATLAS_REQUIRE_POSTGRES", "PostgreSQL server binaries not installed")
    bindir = Path(initdbs[-1]).parent
    workdir = Path(tempfile.mkdtemp(prefix="modelatlas-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the postgres system user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            _require_or_skip("MODELATLAS_REQUIRE_POSTGRES", "no 'postgres' system user")
        os.chown(workdir, user.pw_uid, user.pw_gid)
        workdir.chmod(0o700)
        prefix = ["runuser", "-u", "postgres", "--"]
    datadir = workdir / "data"
    port = _free_port()
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(datadir),
            "-l",
            str(workdir / "log"),
            "-o",
            f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                capture_output=True,
            )
            if probe.returncode == 0:
                break
            time.sleep(0.2)
        subprocess.run(
            [
                str(bindir / "createdb"),
                *("-h", "127.0.0.1", "-p", str(port), "-U", "postgres"),
                "modelatlas_test",
            ],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/modelatlas_test"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(workdir, ignore_errors=True)
