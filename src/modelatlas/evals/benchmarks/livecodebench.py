"""LiveCodeBench code generation (``livecodebench/code_generation_lite`` on the HF hub).

Problems from LeetCode, AtCoder and Codeforces contests, each with a contest date, so a run can
use only problems published after a model's training cut-off. Two kinds:

- *stdin* problems (no starter code): the program reads standard input and writes standard
  output; compared line by line after stripping, lines also equal when they hold the same
  decimal numbers (LiveCodeBench's ``grade_stdio``).
- *functional* problems (LeetCode, with starter code and ``metadata.func_name``): the method of
  ``class Solution`` is called with each test's arguments (one JSON value per line) and its
  result, tuples as lists, must equal the JSON output (``grade_call_based``).

Every test of a problem runs in one sandboxed program (per-test limit 6 s, as LiveCodeBench's
default). Prompts are LiveCodeBench's generic ones (system message plus
``### Question / ### Format / ### Answer``).

Data: the hub's JSON-lines files (``test.jsonl``, ``test2.jsonl`` ... ``test6.jsonl``, one per
release) go in ``<mirror>/livecodebench/`` (``MODELATLAS_DATA_DIR``) or
``$MODELATLAS_HOME/cache/datasets/livecodebench/``. They are not on this machine; the hidden
tests are only in those files. ``private_test_cases`` is either JSON or base64 of zlib of a
*pickle* of a JSON string: unpickling untrusted data can run code, so only a pickle made of
nothing but one string is accepted (its opcodes are checked first, and the unpickler resolves
no class or function at all); anything else is a bad row.

Windows: ``release_v1`` ... ``release_v6`` (cumulative: ``test.jsonl`` to ``testN.jsonl``),
``v1`` ... ``v6`` (one file), then ``since``/``until`` on the contest date (inclusive, as
LiveCodeBench's ``--start_date``/``--end_date``). The registered benchmark uses
``release_v5`` with 2024-07-01 to 2025-01-01, the window the reference site states for its
LiveCodeBench figures (315 problems; their statement, not verified here). Use
:func:`make_benchmark` for another window.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import pickletools
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modelatlas.errors import UserError
from modelatlas.evals.coding import (
    Verdict,
    encode_value,
    function_program,
    new_nonce,
    prepare_solution,
    read_verdict,
    run_programs,
    stdio_program,
    verdict_score,
)
from modelatlas.evals.core import Benchmark, Category, ChatMessage, Item, ItemScore, sample_items
from modelatlas.evals.datasets import (
    DatasetRowError,
    DatasetUnavailableError,
    cache_dir,
    mirror_dirs,
)
from modelatlas.evals.registry import register
from modelatlas.evals.sandbox import Program, SandboxLimits

VERSION = "1"
SOURCE = "https://huggingface.co/datasets/livecodebench/code_generation_lite"
FOLDER = "livecodebench"
RELEASE_FILES: dict[str, tuple[str, ...]] = {
    "v1": ("test.jsonl",),
    "v2": ("test2.jsonl",),
    "v3": ("test3.jsonl",),
    "v4": ("test4.jsonl",),
    "v5": ("test5.jsonl",),
    "v6": ("test6.jsonl",),
}
for _n in range(1, 7):
    RELEASE_FILES[f"release_v{_n}"] = tuple(
        file for v in range(1, _n + 1) for file in RELEASE_FILES[f"v{v}"]
    )
RELEASE_FILES["release_latest"] = RELEASE_FILES["release_v6"]

DEFAULT_RELEASE = "release_v5"
DEFAULT_SINCE = date(2024, 7, 1)
DEFAULT_UNTIL = date(2025, 1, 1)
TEST_TIMEOUT_S = 6.0

SYSTEM_MESSAGE = (
    "You are an expert Python programmer. You will be given a question (problem "
    "specification) and will generate a correct Python program that matches the "
    "specification and passes all tests."
)
FORMAT_WITH_STARTER = (
    "You will use the following starter code to write the solution to the problem and "
    "enclose your code within delimiters."
)
FORMAT_STDIN = (
    "Read the inputs from stdin solve the problem and write the answer to stdout (do not "
    "directly test on the sample inputs). Enclose your code within delimiters as follows. "
    "Ensure that when the python program runs, it reads the inputs, runs the algorithm and "
    "writes output to STDOUT."
)
IMPORT_PRELUDE = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\n"
    "from random import *\nfrom statistics import *\nfrom itertools import *\n"
    "from functools import *\nfrom operator import *\nfrom io import *\nfrom sys import *\n"
    "from json import *\nfrom builtins import *\nfrom typing import *\nimport string\nimport re\n"
    "import datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\nimport math\n"
    "import random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n"
)
"""LiveCodeBench's ``import_string``, put before every program (as its grader does)."""


# --- data ------------------------------------------------------------------------------------


class LcbTest(BaseModel):
    model_config = ConfigDict(frozen=True)

    input: str
    output: str
    testtype: Literal["stdin", "functional"]


_PICKLE_STRING_OPS = frozenset(
    {
        "PROTO",
        "FRAME",
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "BINUNICODE8",
        "UNICODE",
        "MEMOIZE",
        "PUT",
        "BINPUT",
        "LONG_BINPUT",
        "STOP",
    }
)


class _NoGlobalsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset pickle")


def decode_private_tests(raw: str) -> list[dict[str, Any]]:
    """``private_test_cases`` as a list of test dicts: plain JSON, or LiveCodeBench's
    base64(zlib(pickle(json string))). The pickle must hold exactly one string (checked
    opcode by opcode before loading; no class or function can be resolved)."""
    text = raw.strip()
    if not text:
        return []
    if text[0] == "[":
        decoded = json.loads(text)
    else:
        try:
            blob = zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
        except (ValueError, zlib.error) as exc:
            raise ValueError(f"private_test_cases is neither JSON nor base64+zlib: {exc}") from None
        ops = {op.name for op, _, _ in pickletools.genops(blob)}
        if not ops <= _PICKLE_STRING_OPS:
            extra = ", ".join(sorted(ops - _PICKLE_STRING_OPS))
            raise ValueError(f"private_test_cases pickle holds more than a string ({extra})")
        value = _NoGlobalsUnpickler(io.BytesIO(blob)).load()
        if not isinstance(value, str):
            raise ValueError("private_test_cases pickle does not hold a string")
        decoded = json.loads(value)
    if not isinstance(decoded, list):
        raise ValueError("private_test_cases is not a list")
    return decoded


class LcbRow(BaseModel):
    """One record of ``code_generation_lite`` (public format)."""

    question_title: str
    question_content: str = Field(min_length=1)
    platform: Literal["leetcode", "codeforces", "atcoder"]
    question_id: str = Field(min_length=1)
    contest_id: str = ""
    contest_date: datetime
    starter_code: str = ""
    difficulty: Literal["easy", "medium", "hard"]
    public_test_cases: list[LcbTest]
    private_test_cases: list[LcbTest]
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("public_test_cases", mode="before")
    @classmethod
    def _public(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("private_test_cases", mode="before")
    @classmethod
    def _private(cls, value: Any) -> Any:
        return decode_private_tests(value) if isinstance(value, str) else value

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @property
    def func_name(self) -> str | None:
        name = self.metadata.get("func_name")
        return str(name) if name else None

    @property
    def tests(self) -> list[LcbTest]:
        return [*self.public_test_cases, *self.private_test_cases]


def read_file(path: Path) -> list[LcbRow]:
    """Every problem of one JSON-lines file (a bad row is an error naming file and line)."""
    rows: list[LcbRow] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = LcbRow.model_validate_json(line)
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first["loc"]) or "row"
                raise DatasetRowError(str(path), number, f"{where}: {first['msg']}") from None
            if row.func_name is None and row.starter_code.strip():
                raise DatasetRowError(str(path), number, "starter code but no metadata.func_name")
            rows.append(row)
    return rows


def _as_date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"Bad date {value!r}: use YYYY-MM-DD.") from None


def find_files(release: str, data_dir: Path | None = None) -> list[Path]:
    """The release's files, from the first folder (mirror, then cache) that has any."""
    if release not in RELEASE_FILES:
        raise UserError(
            f"Unknown LiveCodeBench release '{release}'.",
            hint=f"Known: {', '.join(sorted(RELEASE_FILES))}.",
        )
    names = RELEASE_FILES[release]
    folders = [d / FOLDER for d in mirror_dirs(data_dir)] + [cache_dir() / FOLDER]
    for folder in folders:
        found = [folder / n for n in names if (folder / n).is_file()]
        if found:
            return found
    raise DatasetUnavailableError(
        f"LiveCodeBench files for {release} ({', '.join(names)}) were not found in: "
        + ", ".join(str(f) for f in folders),
        hint=f"Download them from {SOURCE} (the JSON-lines files of the repository) into "
        f"<mirror>/{FOLDER}/ and set MODELATLAS_DATA_DIR to the mirror folder.",
        tried=[f / n for f in folders for n in names],
    )


@dataclass(frozen=True)
class Window:
    """Which problems: a release's files and an inclusive contest-date range."""

    release: str = DEFAULT_RELEASE
    since: date | None = DEFAULT_SINCE
    until: date | None = DEFAULT_UNTIL

    def contains(self, when: datetime) -> bool:
        day = when.replace(tzinfo=None)
        if self.since is not None and day < datetime.combine(self.since, datetime.min.time()):
            return False
        return self.until is None or day <= datetime.combine(self.until, datetime.min.time())

    def label(self) -> str:
        return f"{self.release} {self.since or '...'}..{self.until or '...'}"


_PROBLEMS: dict[str, LcbRow] = {}
_PROBLEMS_LOCK = threading.Lock()


def load_problems(
    window: Window, data_dir: Path | None = None, *, paths: Sequence[Path] | None = None
) -> list[LcbRow]:
    """The problems in ``window`` (``paths`` overrides the release's files); later files win
    when a question id repeats."""
    files = list(paths) if paths is not None else find_files(window.release, data_dir)
    by_id: dict[str, LcbRow] = {}
    for path in files:
        for row in read_file(path):
            by_id[row.question_id] = row
    chosen = [row for row in by_id.values() if window.contains(row.contest_date)]
    with _PROBLEMS_LOCK:
        for row in chosen:
            _PROBLEMS[row.question_id] = row
    return sorted(chosen, key=lambda r: (r.contest_date, r.question_id))


def to_item(row: LcbRow, source: Sequence[Path] | None = None) -> Item:
    return Item(
        id=row.question_id,
        input={
            "question_title": row.question_title,
            "question_content": row.question_content,
            "starter_code": row.starter_code,
        },
        target="",
        metadata={
            "platform": row.platform,
            "difficulty": row.difficulty,
            "contest_date": row.contest_date.isoformat(),
            "kind": "functional" if row.func_name else "stdin",
            "tests": len(row.tests),
            **({"source": [str(p) for p in source]} if source else {}),
        },
    )


# --- prompt and score ------------------------------------------------------------------------


def prompt(item: Item) -> list[ChatMessage]:
    text = f"### Question:\n{item.input['question_content']}\n\n"
    starter = item.input.get("starter_code") or ""
    if starter:
        text += f"### Format: {FORMAT_WITH_STARTER}\n```python\n{starter}\n```\n\n"
    else:
        text += f"### Format: {FORMAT_STDIN}\n```python\n# YOUR CODE HERE\n```\n\n"
    text += "### Answer: (use the provided format with backticks)\n\n"
    return [{"role": "system", "content": SYSTEM_MESSAGE}, {"role": "user", "content": text}]


def _problem(item: Item) -> LcbRow:
    with _PROBLEMS_LOCK:
        row = _PROBLEMS.get(item.id)
    if row is not None:
        return row
    source = item.metadata.get("source")
    if source:
        load_problems(Window(since=None, until=None), paths=[Path(p) for p in source])
    else:
        load_problems(Window(release="release_latest", since=None, until=None))
    with _PROBLEMS_LOCK:
        if item.id in _PROBLEMS:
            return _PROBLEMS[item.id]
    raise UserError(f"LiveCodeBench problem {item.id} is not in the loaded files.")


def _job(row: LcbRow, program: str, nonce: str) -> tuple[Program, SandboxLimits]:
    tests = row.tests
    wall = (TEST_TIMEOUT_S + 1) * max(len(tests), 1) + 10
    limits = SandboxLimits(
        wall_seconds=wall, cpu_seconds=int(wall) + 1, memory_bytes=4 << 30, max_file_bytes=256 << 20
    )
    if row.func_name is None:
        spec: dict[str, Any] = {
            "time_limit": TEST_TIMEOUT_S,
            "tests": [{"input": t.input, "output": t.output} for t in tests],
        }
        return stdio_program(program, spec, nonce=nonce, label=row.question_id), limits
    inputs = [[json.loads(line) for line in t.input.split("\n")] for t in tests]
    outputs = [json.loads(t.output) for t in tests]
    spec = {
        "mode": "check",
        "dataset": None,
        "entry_point": row.func_name,
        "class_name": "Solution" if "class Solution" in program else None,
        "tuple_as_list": True,
        "atol": 0,
        "load_seconds": TEST_TIMEOUT_S,
        "phases": [
            {
                "name": "tests",
                "inputs": encode_value(inputs),
                "expected": encode_value(outputs),
                "time_limits": [TEST_TIMEOUT_S] * max(len(tests), 1),
            }
        ],
    }
    return function_program(program, spec, nonce=nonce, label=row.question_id), limits


def score_many(items: Sequence[Item], answers: Sequence[str]) -> list[ItemScore]:
    """Score many answers at once (all problems in parallel in the sandbox pool)."""
    prepared = [prepare_solution(answer, prelude=IMPORT_PRELUDE) for answer in answers]
    scores: list[ItemScore | None] = [None if p.ok else p.failure() for p in prepared]
    runnable: list[int] = []
    jobs: list[tuple[Program, SandboxLimits]] = []
    nonces: list[str] = []
    for i, (item, solution) in enumerate(zip(items, prepared, strict=True)):
        if solution.program is None:
            continue
        row = _problem(item)
        try:
            nonce = new_nonce()
            jobs.append(_job(row, solution.program, nonce))
        except ValueError as exc:  # a functional test whose input is not JSON
            raise DatasetRowError(item.id, 0, f"test case is not JSON: {exc}") from None
        nonces.append(nonce)
        runnable.append(i)
    results = run_programs(jobs)
    for i, nonce, result in zip(runnable, nonces, results, strict=True):
        verdict: Verdict = read_verdict(result, nonce)
        scores[i] = verdict_score(verdict, prepared[i], kind=items[i].metadata.get("kind"))
    return [s for s in scores if s is not None]


def score(item: Item, answer_text: str) -> ItemScore:
    return score_many([item], [answer_text])[0]


def make_benchmark(window: Window | None = None) -> Benchmark:
    """The benchmark over ``window`` (default: the reference site's window)."""
    window = window or Window()
    default = window == Window()

    def load(
        *, limit: int | None = None, seed: int = 0, data_dir: Path | None = None
    ) -> list[Item]:
        files = find_files(window.release, data_dir)
        rows = load_problems(window, paths=files)
        return sample_items([to_item(r, files) for r in rows], limit, seed)

    return Benchmark(
        key="livecodebench",
        display_name="LiveCodeBench" if default else f"LiveCodeBench ({window.label()})",
        category=Category.CODING,
        version=f"{VERSION}+{window.release}:{window.since}..{window.until}",
        source=SOURCE,
        license="CC-BY-4.0 (problems from LeetCode, AtCoder, Codeforces)",
        item_count=315 if default else 0,
        description="Competitive programming problems released in a date window, run on "
        "their public and hidden tests (pass@1).",
        load=load,
        prompt=prompt,
        score=score,
        aliases=("lcb",),
        aa_key="livecodebench",
        tags=("code", "sandbox", "contamination-free"),
    )


@register
def livecodebench() -> Benchmark:
    return make_benchmark()
