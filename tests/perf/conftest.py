"""Fixtures: one simulated endpoint subprocess per session (own process, own event loop)."""

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
def perf_sim() -> Iterator[str]:
    with running_sim(SimConfig()) as url:
        yield url


class Sim:
    def __init__(self, url: str) -> None:
        self.url = url
        self.config = SimConfig()

    def set(self, **fields: object) -> SimConfig:
        self.config = SimConfig.model_validate(fields)
        configure(self.url, self.config)
        return self.config


@pytest.fixture
def sim(perf_sim: str) -> Sim:
    return Sim(perf_sim)
