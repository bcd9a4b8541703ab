"""Fixtures: one simulated endpoint subprocess per test session, reconfigured per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from modelatlas.endpoints.sim import SimConfig, configure, running_sim


@pytest.fixture(scope="session", autouse=True)
def _tiktoken_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the o200k cache out of the user's home unless one is configured."""
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        yield
        return
    os.environ["TIKTOKEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("tiktoken"))
    yield


@pytest.fixture(scope="session")
def sim_server() -> Iterator[str]:
    """Base URL of a simulator running in its own process (own event loop, own GIL)."""
    with running_sim(SimConfig()) as url:
        yield url


@pytest.fixture
def sim(sim_server: str) -> Iterator[Sim]:
    yield Sim(sim_server)


class Sim:
    """The session's simulator; ``set()`` replaces its config and clears its log."""

    def __init__(self, url: str) -> None:
        self.url = url

    def set(self, **fields: object) -> str:
        configure(self.url, SimConfig.model_validate(fields))
        return self.url


@pytest.fixture
def png_bytes() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def free_port_url() -> str:
    """A URL on a port nobody listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
