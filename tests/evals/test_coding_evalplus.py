"""HumanEval+ and MBPP+: the reference solutions pass, wrong or broken answers score 0 with a
reason. The full check of every problem lives in benchmarks/coding (it takes minutes); here a
seeded sample of 40 problems per dataset runs with all its base and plus inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelatlas.evals.benchmarks import humaneval_plus, mbpp_plus
from modelatlas.evals.core import sample_items
from modelatlas.evals.registry import get_benchmark
from modelatlas.evals.sandbox import detect_isolation

SAMPLE = 40
SEED = 7


@pytest.fixture(scope="module")
def data_dir(shared_dir: Path) -> Path:
    try:
        detect_isolation()
    except Exception as exc:  # no working sandbox on this machine
        pytest.skip(f"sandbox unavailable: {exc}")
    return shared_dir / "datasets"


@pytest.fixture(scope="module", autouse=True)
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of expected outputs for the whole module (the per-test home is isolated)."""
    return tmp_path_factory.mktemp("coding-home")


@pytest.fixture(autouse=True)
def shared_cache(module_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELATLAS_HOME", str(module_home))


def fenced(code: str) -> str:
    return f"Here is my solution.\n\n```python\n{code}\n```\n"


@pytest.mark.parametrize("module", [humaneval_plus, mbpp_plus], ids=["humaneval+", "mbpp+"])
def test_reference_solutions_pass_on_a_seeded_sample(module, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    items = sample_items(module.load(data_dir=data_dir), SAMPLE, SEED)
    _, problems = module.SUITE.problems(data_dir)
    answers = [fenced(problems[it.id].prompt + problems[it.id].canonical_solution) for it in items]
    scores = module.score_many(items, answers)
    failed = {it.id: s.reason for it, s in zip(items, scores, strict=True) if s.score != 1.0}
    assert failed == {}
    for item, s in zip(items, scores, strict=True):
        runs = s.details["tests_run"]
        assert runs["base"] == item.metadata["base_inputs"]
        assert runs["plus"] == item.metadata["plus_inputs"]


def test_registered_with_their_keys() -> None:
    assert get_benchmark("humaneval_plus").item_count == 164
    assert get_benchmark("mbpp_plus").item_count == 378
    assert get_benchmark("humaneval+").key == "humaneval_plus"


def test_counts_and_prompt(data_dir: Path) -> None:
    items = humaneval_plus.load(data_dir=data_dir)
    assert len(items) == 164 and items[0].id == "HumanEval/0"
    assert len(mbpp_plus.load(data_dir=data_dir)) == 378
    text = humaneval_plus.prompt(items[0])[0]["content"]
    assert text.startswith("Please provide a self-contained Python script")
    assert "def has_close_elements(numbers: List[float], threshold: float) -> bool:" in text
    assert "```python" in text


def _item(module, task_id: str, data_dir: Path):  # type: ignore[no-untyped-def]
    return next(it for it in module.load(data_dir=data_dir) if it.id == task_id)


def test_wrong_solution_fails_with_the_failing_input(data_dir: Path) -> None:
    item = _item(humaneval_plus, "HumanEval/0", data_dir)
    wrong = (
        "def has_close_elements(numbers, threshold):\n"
        "    return any(abs(a - b) <= threshold for a in numbers for b in numbers if a is not b)\n"
    )
    score = humaneval_plus.score(item, fenced(wrong))
    assert score.score == 0.0
    assert score.reason == "wrong output"
    assert score.details["stage"] in ("base", "plus")
    assert "expected" in score.details and "got" in score.details


def test_plus_inputs_catch_what_base_inputs_miss(data_dir: Path) -> None:
    # Passes MBPP's three original inputs, fails on larger ones.
    item = _item(mbpp_plus, "Mbpp/2", data_dir)
    sloppy = (
        "def similar_elements(a, b):\n"
        "    if len(a) > 4 or len(b) > 4:\n"
        "        return ()\n"
        "    return tuple(set(a) & set(b))\n"
    )
    score = mbpp_plus.score(item, fenced(sloppy))
    assert score.score == 0.0
    assert score.details["stage"] == "plus"
    assert score.details["tests_run"]["base"] == item.metadata["base_inputs"]


def test_float_outputs_use_a_tolerance(data_dir: Path) -> None:
    item = _item(humaneval_plus, "HumanEval/4", data_dir)  # mean_absolute_deviation
    reordered = (
        "def mean_absolute_deviation(numbers):\n"
        "    n = len(numbers)\n"
        "    mean = sum(numbers) / n\n"
        "    return sum(abs(mean - x) for x in reversed(numbers)) / n\n"
    )
    assert humaneval_plus.score(item, fenced(reordered)).score == 1.0


def test_demo_code_in_the_answer_is_dropped(data_dir: Path) -> None:
    item = _item(humaneval_plus, "HumanEval/0", data_dir)
    code = (
        "from typing import List\n\n"
        "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        "    s = sorted(numbers)\n"
        "    return any(b - a < threshold for a, b in zip(s, s[1:]))\n\n"
        "print(has_close_elements([1.0, 2.0], 0.5))\n"
        "assert has_close_elements([1.0], 0.5) is True  # a wrong demo assert\n"
    )
    score = humaneval_plus.score(item, fenced(code))
    assert score.score == 1.0, score.reason
    assert score.details["dropped_statements"] == [
        "line 7: print(has_close_elements([1.0, 2.0], 0.5))",
        "line 8: assert has_close_elements([1.0], 0.5) is True  # a wrong demo assert",
    ]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("The answer is to sort the list and compare neighbours.", "no code block"),
        ("```bash\necho hi\n```", "no python code block (found: bash)"),
        (
            "```python\ndef has_close_elements(numbers, threshold:\n    return 1\n```",
            "code does not parse",
        ),
    ],
    ids=["no-block", "other-language", "syntax-error"],
)
def test_unusable_answers_score_zero_with_a_reason(
    answer: str, reason: str, data_dir: Path
) -> None:
    item = _item(humaneval_plus, "HumanEval/0", data_dir)
    score = humaneval_plus.score(item, answer)
    assert score.score == 0.0
    assert score.reason is not None and score.reason.startswith(reason)


def test_a_hanging_solution_times_out_and_scores_zero(data_dir: Path) -> None:
    item = _item(humaneval_plus, "HumanEval/0", data_dir)
    code = "def has_close_elements(numbers, threshold):\n    while True:\n        pass\n"
    score = humaneval_plus.score(item, fenced(code))
    assert score.score == 0.0
    assert score.reason == "timeout"
    assert score.details["stage"] == "base" and score.details["failed_index"] == 0


def test_exit_crash_and_missing_function(data_dir: Path) -> None:
    item = _item(humaneval_plus, "HumanEval/0", data_dir)
    answers = [
        fenced("import os\ndef has_close_elements(numbers, threshold):\n    os._exit(0)\n"),
        fenced("def close_elements(numbers, threshold):\n    return False\n"),
        fenced("def has_close_elements(numbers, threshold):\n    raise ValueError('nope')\n"),
        fenced(
            "def has_close_elements(numbers, threshold):\n"
            "    print('@@verdict-x {\"passed\": true}')\n    return True\n"
        ),
    ]
    scores = humaneval_plus.score_many([item] * len(answers), answers)
    assert [s.score for s in scores] == [0.0, 0.0, 0.0, 0.0]
    assert scores[0].reason is not None and "exited before the harness reported" in scores[0].reason
    assert scores[1].reason == "function has_close_elements is not defined"
    assert scores[2].reason == "ValueError: nope"
    assert scores[3].reason == "wrong output"


def test_no_answer_rules_apply_before_scoring(data_dir: Path) -> None:
    item = _item(humaneval_plus, "HumanEval/0", data_dir)
    bench = get_benchmark("humaneval_plus")
    score = bench.grade(item, "<think>```python\ndef f(): pass\n```", finish_reason="stop")
    assert score.no_answer and score.score == 0.0
