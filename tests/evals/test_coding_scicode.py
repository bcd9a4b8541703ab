"""SciCode: the test split refuses without test_data.h5; the dev split regenerates its targets
from the reference code (when the sandbox's interpreter has numpy and scipy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelatlas.errors import UserError
from modelatlas.evals.benchmarks import scicode
from modelatlas.evals.coding import missing_modules
from modelatlas.evals.registry import get_benchmark


@pytest.fixture(scope="module")
def data_dir(shared_dir: Path) -> Path:
    return shared_dir / "datasets"


def test_test_split_refuses_without_its_targets(data_dir: Path) -> None:
    bench = get_benchmark("scicode")
    with pytest.raises(UserError, match=r"test_data\.h5") as info:
        bench.load(data_dir=data_dir)
    assert "SciCode repository" in str(info.value)
    item = scicode.load_dev(data_dir=data_dir)[0]
    with pytest.raises(UserError, match=r"test_data\.h5"):
        bench.score(item, "```python\ndef f(): pass\n```")


def test_test_split_with_targets_still_refuses(tmp_path: Path) -> None:
    (tmp_path / "scicode").mkdir()
    (tmp_path / "scicode" / "test_data.h5").write_bytes(b"\x89HDF")
    with pytest.raises(UserError, match="not implemented yet"):
        get_benchmark("scicode").load(data_dir=tmp_path)


def test_dev_items_and_prompt(data_dir: Path) -> None:
    items = scicode.load_dev(data_dir=data_dir)
    assert len(items) == 50 and items[0].id == "10.1"
    text = scicode.prompt(items[1])[0]["content"]
    assert "PREVIOUS STEPS DESCRIPTION:" in text and "def get_alpha" in text  # step 1's code
    assert "import numpy as np" in text


def test_missing_packages_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scicode, "_CHECKED", {"/usr/bin/python3": ["scipy"]})
    with pytest.raises(UserError, match=r"scipy .*/usr/bin/python3"):
        scicode.check_interpreter("/usr/bin/python3")


needs_numpy = pytest.mark.skipif(
    bool(missing_modules(scicode.REQUIRED_MODULES)),
    reason="the sandbox interpreter lacks numpy/scipy/sympy",
)


@needs_numpy
def test_dev_reference_passes_and_wrong_code_fails(data_dir: Path) -> None:
    items = {it.id: it for it in scicode.load_dev(data_dir=data_dir)}
    step = items["1.1"]
    wrong = "```python\ndef cg(A, b, x, tol):\n    return 0\n```"
    scores = scicode.score_many_dev(
        [step, step, step], [f"```python\n{step.target}\n```", wrong, "no code here"]
    )
    assert scores[0].score == 1.0, scores[0].reason
    assert scores[1].score == 0.0 and scores[1].reason is not None
    assert scores[1].reason.startswith("test 1")
    assert scores[2].reason == "no code block"


@needs_numpy
def test_a_step_whose_reference_fails_is_excluded(data_dir: Path) -> None:
    items = {it.id: it for it in scicode.load_dev(data_dir=data_dir)}
    score = scicode.score_dev(items["7.1"], f"```python\n{items['7.1'].target}\n```")
    assert score.excluded and "reference code fails" in (score.reason or "")
