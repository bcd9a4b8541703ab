"""LiveCodeBench: the public record format (with pickled hidden tests), release windows, and
scoring of stdin and functional (LeetCode) problems, on a small hand-written set."""

from __future__ import annotations

import base64
import json
import pickle
import shutil
import zlib
from datetime import date
from pathlib import Path

import pytest

from modelatlas.errors import UserError
from modelatlas.evals.benchmarks import livecodebench as lcb
from modelatlas.evals.core import Item
from modelatlas.evals.datasets import DatasetRowError, DatasetUnavailableError
from modelatlas.evals.registry import get_benchmark
from modelatlas.evals.sandbox import detect_isolation

SAMPLE = Path(__file__).parent / "data" / "livecodebench_sample.jsonl"
ALL = lcb.Window(since=None, until=None)


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    (tmp_path / "livecodebench").mkdir()
    shutil.copy(SAMPLE, tmp_path / "livecodebench" / "test5.jsonl")
    return tmp_path


@pytest.fixture(scope="module")
def sandbox() -> None:
    try:
        detect_isolation()
    except Exception as exc:
        pytest.skip(f"sandbox unavailable: {exc}")


def items_by_id() -> dict[str, Item]:
    rows = lcb.load_problems(ALL, paths=[SAMPLE])
    return {r.question_id: lcb.to_item(r, [SAMPLE]) for r in rows}


def test_loader_decodes_public_and_pickled_private_tests() -> None:
    rows = {r.question_id: r for r in lcb.load_problems(ALL, paths=[SAMPLE])}
    assert len(rows) == 5
    abc = rows["sample_abc001_a"]
    assert [t.output for t in abc.private_test_cases] == ["0\n", "2000000000\n"]
    assert abc.func_name is None and len(abc.tests) == 3
    lc = rows["sample_lc_9001"]
    assert lc.func_name == "addDigits" and lc.starter_code.startswith("class Solution")
    assert {t.testtype for t in lc.tests} == {"functional"}


def test_a_pickle_with_anything_but_a_string_is_refused() -> None:
    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("pwned",))

    blob = base64.b64encode(zlib.compress(pickle.dumps(Evil()))).decode()
    with pytest.raises(ValueError, match="more than a string"):
        lcb.decode_private_tests(blob)
    not_text = base64.b64encode(zlib.compress(pickle.dumps(["a"]))).decode()
    with pytest.raises(ValueError, match="more than a string"):
        lcb.decode_private_tests(not_text)
    good = base64.b64encode(zlib.compress(pickle.dumps(json.dumps([])))).decode()
    assert lcb.decode_private_tests(good) == []


def test_bad_row_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "test.jsonl"
    lines = SAMPLE.read_text().splitlines()
    record = json.loads(lines[1])
    record["private_test_cases"] = "!!not base64!!"
    bad.write_text(lines[0] + "\n" + json.dumps(record) + "\n")
    with pytest.raises(DatasetRowError, match=r"Bad row 2 .*private_test_cases"):
        lcb.load_problems(ALL, paths=[bad])


def test_windows_select_by_contest_date() -> None:
    def ids(window: lcb.Window) -> list[str]:
        return [r.question_id for r in lcb.load_problems(window, paths=[SAMPLE])]

    assert ids(lcb.Window()) == [
        "sample_abc001_a",
        "sample_lc_9001",
        "sample_cf1999_b",
        "sample_lc_9002",
    ]
    assert ids(lcb.Window(since=date(2024, 9, 1), until=date(2024, 10, 31))) == [
        "sample_lc_9001",
        "sample_cf1999_b",
    ]
    assert ids(lcb.Window(since=None, until=date(2024, 1, 1))) == ["sample_abc300_a"]


def test_release_names_map_to_files() -> None:
    assert lcb.RELEASE_FILES["release_v3"] == ("test.jsonl", "test2.jsonl", "test3.jsonl")
    assert lcb.RELEASE_FILES["v5"] == ("test5.jsonl",)
    with pytest.raises(UserError, match=r"Unknown LiveCodeBench release"):
        lcb.find_files("release_v9")


def test_registered_benchmark_loads_from_a_mirror(mirror: Path) -> None:
    bench = get_benchmark("livecodebench")
    assert bench.aa_key == "livecodebench" and "release_v5" in bench.version
    items = bench.load(data_dir=mirror)
    assert items[0].id == "sample_abc001_a" and len(items) == 4
    messages = bench.prompt(items[0])
    assert messages[0]["role"] == "system"
    assert "Read the inputs from stdin" in messages[1]["content"]
    functional = next(it for it in items if it.metadata["kind"] == "functional")
    assert "class Solution" in bench.prompt(functional)[1]["content"]


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailableError, match=r"test5\.jsonl") as info:
        get_benchmark("livecodebench").load(data_dir=tmp_path)
    assert "code_generation_lite" in str(info.value)


ANSWERS = {
    "sample_abc001_a": "```python\na, b = map(int, input().split())\nprint(a + b)\n```",
    "sample_cf1999_b": (
        "```python\nimport sys\ndata = sys.stdin.buffer.read().split()\nn = int(data[0])\n"
        "xs = sorted(map(int, data[1:1 + n]))\nprint(*xs)\nprint(sum(xs) / n)\n```"
    ),
    "sample_lc_9001": (
        "```python\nclass Solution:\n    def addDigits(self, num: int) -> int:\n"
        "        return 0 if num == 0 else 1 + (num - 1) % 9\n```"
    ),
    "sample_lc_9002": (
        "```python\nclass Solution:\n"
        "    def minMaxPair(self, nums: List[int], k: int) -> List[int]:\n"
        "        return (min(nums) * k, max(nums) * k)\n```"
    ),
    "sample_abc300_a": (
        "```python\nimport os\ns = open(0).readline().rstrip('\\n')\n"
        "os.write(1, (s + '\\n').encode())\nprint(s)\n```"
    ),
}


def test_correct_programs_pass_all_tests(sandbox: None) -> None:
    items = items_by_id()
    scores = lcb.score_many(list(items.values()), [ANSWERS[k] for k in items])
    assert {k: s.reason for k, s in zip(items, scores, strict=True)} == dict.fromkeys(items)
    assert all(s.score == 1.0 for s in scores)


def test_failures_are_explained_per_item(sandbox: None) -> None:
    items = items_by_id()
    cases = [
        (
            "sample_abc001_a",
            "```python\na, b = map(int, input().split())\nprint(a - b)\n```",
            "wrong answer at line 1: -1 != 3",
        ),
        ("sample_abc001_a", "```python\nwhile True:\n    pass\n```", "timeout"),
        ("sample_abc001_a", "I would add the numbers.", "no code block"),
        ("sample_abc001_a", "```python\nprint(1 +\n```", "code does not parse"),
        (
            "sample_lc_9001",
            "```python\nclass Solution:\n    def addDigits(self, num):\n        return num\n```",
            "wrong output",
        ),
        (
            "sample_lc_9001",
            "```python\nclass Solution:\n    def other(self, num):\n        return num\n```",
            "method addDigits unavailable",
        ),
        (
            "sample_cf1999_b",
            "```python\nprint('1 2 3 4')\n```",
            "wrong answer: 1 output lines, expected 2",
        ),
    ]
    scores = lcb.score_many([items[k] for k, _, _ in cases], [a for _, a, _ in cases])
    for (key, _, reason), score in zip(cases, scores, strict=True):
        assert score.score == 0.0
        assert score.reason is not None and score.reason.startswith(reason), (key, score.reason)
