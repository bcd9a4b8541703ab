"""Shared inputs for the index tests."""

from __future__ import annotations

import pytest

#: GPT-5 (thinking)'s published v3 component scores (0-100); the index is published as 69.
GPT5_V3_SCORES: dict[str, float] = {
    "mmlu_pro": 87,
    "gpqa": 85,
    "hle": 26.5,
    "livecodebench": 85,
    "scicode": 43,
    "aime25": 94,
    "ifbench": 73,
    "lcr": 76,
    "terminalbench_hard": 31,
    "tau2": 85,
}


@pytest.fixture
def gpt5_v3_scores() -> dict[str, float]:
    return dict(GPT5_V3_SCORES)
