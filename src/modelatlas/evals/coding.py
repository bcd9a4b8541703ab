"""Shared pieces of the coding benchmarks: running model code in the sandbox and grading it.

The coding benchmarks (HumanEval+, MBPP+, LiveCodeBench, SciCode) all score a model by running
the code it wrote. This module holds what they share:

- :func:`run_programs`: runs programs through one process-wide :class:`SandboxPool` on a
  background event loop, so that many grading threads (the eval runner grades items through
  ``asyncio.to_thread``) together never run more than ``max_parallel`` programs at a time.
- a *tagged JSON* codec (:data:`CODEC_SOURCE`) that carries Python values (tuples, sets,
  complex numbers, non-finite floats, dicts with any keys, huge integers) in and out of the
  sandbox exactly; the same source runs on the host and inside the sandbox.
- *harnesses*: one sandboxed program per problem runs **all** its test inputs (loaded from a
  JSON file) and prints one verdict line; a program per input would be far too slow.
- :class:`Verdict` and :func:`read_verdict`: the harness's report. A verdict line starts with
  a per-run nonce sent on standard input and read before the model's code runs, so code that
  merely prints a fake verdict cannot pass. (Code that deliberately searches the harness's
  memory for the nonce could; the sandbox still contains it.)
- :func:`prepare_solution`: extracts the code from an answer (:mod:`code_extract`: fenced
  blocks, language tags, the last complete block, never the reasoning) and explains, per item,
  why there is nothing to run.

Every failure of a model's code (no code block, code that does not parse, an exception, a
wrong output, a hang, a crash) is a score of 0 with a reason, never an exception. Only a
failure of the sandbox itself (``sandbox_error``) is reported as such, and it also scores 0
with the reason recorded.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import json
import os
import secrets
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelatlas.evals.code_extract import extract_code
from modelatlas.evals.core import ChatMessage, Item, ItemScore, sample_items
from modelatlas.evals.sandbox import (
    IsolationMode,
    Program,
    RunStatus,
    SandboxLimits,
    SandboxPool,
    SandboxResult,
    default_python,
)

__all__ = [
    "CODEC_SOURCE",
    "FUNCTION_HARNESS",
    "PreparedSolution",
    "Verdict",
    "decode_value",
    "encode_value",
    "failure_score",
    "prepare_solution",
    "python_version",
    "read_verdict",
    "run_programs",
    "sandbox_python",
    "sanitize_functions",
    "verdict_score",
]

SANDBOX_PYTHON_ENV = "MODELATLAS_SANDBOX_PYTHON"
"""An interpreter for the sandbox other than the system ``python3`` (it must be readable by an
unprivileged uid, e.g. under ``/usr`` or ``/opt``; never one under ``/root``)."""
SANDBOX_PARALLEL_ENV = "MODELATLAS_SANDBOX_PARALLEL"
"""How many sandboxed programs run at once (default: the number of CPUs)."""


# --------------------------------------------------------------------------------------------
# Tagged JSON: exact Python values across the sandbox boundary

CODEC_SOURCE = r'''
import math as _math

_BIG_INT_BITS = 3000
"""Larger ints travel as hex: decimal conversion of huge ints is quadratic."""


def encode_value(value):
    """A JSON-ready form of ``value`` that :func:`decode_value` turns back into an equal value.

    Plain JSON keeps str, bool, None, ints and finite floats as they are (and lists as lists);
    everything else becomes ``{"$t": tag, "v": ...}``. An object of another type is encoded as
    ``opaque`` (its type and repr), which equals nothing when decoded.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if value.bit_length() > _BIG_INT_BITS:
            return {"$t": "int", "v": format(value, "x")}
        return int(value)
    if isinstance(value, float):
        if _math.isfinite(value):
            return float(value)
        return {"$t": "float", "v": repr(value)}
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    if isinstance(value, tuple):
        return {"$t": "tuple", "v": [encode_value(v) for v in value]}
    if isinstance(value, set):
        return {"$t": "set", "v": [encode_value(v) for v in _sorted_any(value)]}
    if isinstance(value, frozenset):
        return {"$t": "frozenset", "v": [encode_value(v) for v in _sorted_any(value)]}
    if isinstance(value, dict):
        return {"$t": "dict", "v": [[encode_value(k), encode_value(v)] for k, v in value.items()]}
    if isinstance(value, complex):
        return {"$t": "complex", "v": [encode_value(value.real), encode_value(value.imag)]}
    if isinstance(value, (bytes, bytearray)):
        return {"$t": type(value).__name__, "v": bytes(value).hex()}
    return {"$t": "opaque", "type": type(value).__name__, "v": repr(value)[:200]}


def _sorted_any(values):
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=repr)


class Opaque:
    """A value that could not be encoded: equal to nothing."""

    def __init__(self, type_name, text):
        self.type_name = type_name
        self.text = text

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    __hash__ = None

    def __repr__(self):
        return "<unencodable " + self.type_name + ": " + self.text + ">"


def decode_value(value):
    """The Python value that :func:`encode_value` encoded."""
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get("$t")
    inner = value.get("v")
    if tag == "tuple":
        return tuple(decode_value(v) for v in inner)
    if tag == "set":
        return {decode_value(v) for v in inner}
    if tag == "frozenset":
        return frozenset(decode_value(v) for v in inner)
    if tag == "dict":
        return {decode_value(k): decode_value(v) for k, v in inner}
    if tag == "complex":
        return complex(decode_value(inner[0]), decode_value(inner[1]))
    if tag == "float":
        return float(inner)
    if tag == "int":
        return int(inner, 16)
    if tag == "bytes":
        return bytes.fromhex(inner)
    if tag == "bytearray":
        return bytearray.fromhex(inner)
    if tag == "opaque":
        return Opaque(value.get("type", "?"), inner)
    if tag == "digest":
        return Digest(inner, value.get("size", 0))
    raise ValueError("unknown tag " + repr(tag))


_PLAIN_TYPES = frozenset({str, int, type(None)})
LARGE_ITEMS = 2000
LARGE_TEXT = 32 * 1024


def _norm_repr(x):
    """A text form in which values equal under Python's ``==`` read the same: bools and
    integral floats print as ints, complex numbers without imaginary part as reals, sets and
    dicts sorted. Lists and tuples of only str/int/None use ``repr`` directly (C speed)."""
    t = type(x)
    if t is str or t is int or x is None:
        return repr(x)
    if t is bool:
        return "1" if x else "0"
    if t is float:
        return repr(int(x)) if _math.isfinite(x) and x.is_integer() else repr(x)
    if t is complex:
        if x.imag == 0:
            return _norm_repr(x.real)
        return "complex(" + _norm_repr(x.real) + "," + _norm_repr(x.imag) + ")"
    if t is list or t is tuple:
        if set(map(type, x)) <= _PLAIN_TYPES:
            return repr(x)
        inner = ",".join(_norm_repr(e) for e in x)
        return "[" + inner + "]" if t is list else "(" + inner + ")"
    if t is set or t is frozenset:
        return "set{" + ",".join(sorted(_norm_repr(e) for e in x)) + "}"
    if t is dict:
        pairs = sorted(_norm_repr(k) + ":" + _norm_repr(v) for k, v in x.items())
        return "{" + ",".join(pairs) + "}"
    return "<" + t.__name__ + ">" + repr(x)


def is_large(value):
    """Too large to ship whole to every check run (a cheap estimate from lengths)."""
    if isinstance(value, (str, bytes, bytearray)):
        return len(value) > LARGE_TEXT
    if not isinstance(value, (list, tuple, set, frozenset, dict)):
        return False
    size = len(value)
    if size > LARGE_ITEMS:
        return True
    for element in value:
        if isinstance(element, (list, tuple, set, frozenset, dict, str, bytes)):
            size += len(element)
    return size > LARGE_ITEMS * 4


def digest_value(value):
    """sha256 of :func:`_norm_repr`, streamed element by element for lists and tuples (so a
    gigabyte output needs no second gigabyte to be hashed)."""
    import hashlib as _hashlib
    h = _hashlib.sha256()
    t = type(value)
    if t is list or t is tuple:
        h.update(t.__name__.encode())
        for element in value:
            h.update(_norm_repr(element).encode("utf-8", "surrogatepass"))
            h.update(b"\x00")
    elif t is bytes or t is bytearray:
        h.update(b"bytes:" + bytes(value))
    else:
        h.update(_norm_repr(value).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


class Digest:
    """An expected output too large to ship, kept as its :func:`digest_value`."""

    def __init__(self, hexdigest, size):
        self.hexdigest = hexdigest
        self.size = size

    def matches(self, value):
        try:
            return digest_value(value) == self.hexdigest
        except BaseException:
            return False

    def __repr__(self):
        return "<" + str(self.size) + " items, sha256 " + self.hexdigest[:12] + ">"
'''

_codec: dict[str, Any] = {}
exec(compile(CODEC_SOURCE, "modelatlas.evals.coding.CODEC_SOURCE", "exec"), _codec)


def encode_value(value: object) -> object:
    """The tagged-JSON form of a Python value (see :data:`CODEC_SOURCE`)."""
    return _codec["encode_value"](value)


def decode_value(value: object) -> object:
    """The Python value of a tagged-JSON form."""
    return _codec["decode_value"](value)


# --------------------------------------------------------------------------------------------
# The function-I/O harness (HumanEval+, MBPP+ and LiveCodeBench's functional problems)

FUNCTION_HARNESS = (
    r"""
import io, json, os, signal, sys, time

try:
    sys.set_int_max_str_digits(0)
except AttributeError:
    pass
"""
    + CODEC_SOURCE
    + r'''

class HarnessTimeout(BaseException):
    """Raised by the per-input alarm; a BaseException so `except Exception` cannot swallow it."""


def _alarm(signum, frame):
    raise HarnessTimeout()


class _Sink(io.TextIOBase):
    def writable(self):
        return True

    def write(self, text):
        return len(text)


NONCE = sys.stdin.readline().strip()
_OUT = os.fdopen(os.dup(1), "w", encoding="utf-8")
_REAL = (sys.stdout, sys.stderr, sys.stdin)


def emit(result):
    _OUT.write(NONCE + " " + json.dumps(result) + "\n")
    _OUT.flush()
    os._exit(0)


def short(value, limit=160):
    try:
        text = repr(value)
    except BaseException:
        text = "<unrepresentable>"
    return text if len(text) <= limit else text[: limit // 2] + " ... " + text[-limit // 2 :]


def describe(exc):
    if isinstance(exc, HarnessTimeout):
        return "timeout"
    text = type(exc).__name__
    detail = str(exc)
    return text + (": " + detail[:200] if detail else "")


def swallow():
    sink = _Sink()
    sys.stdout = sink
    sys.stderr = sink
    sys.stdin = io.StringIO("")


def restore():
    sys.stdout, sys.stderr, sys.stdin = _REAL


def _poly(xs, x):
    import math
    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def _surface_area(base_edge, height):
    import math
    slant = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 4 * (base_edge * slant) / 2)


def _digit_distance(num1, num2):
    a, b = str(num1), str(num2)
    width = max(len(a), len(b))
    a, b = a.zfill(width), b.zfill(width)
    return sum(abs(int(x) - int(y)) for x, y in zip(a, b))


def is_floats(x):
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    return False


def _close(a, b, atol, rtol=1e-07):
    """numpy.allclose(a, b, rtol, atol) for numbers and nested lists/tuples of numbers."""
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        if not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))):
            return False
        return len(a) == len(b) and all(_close(x, y, atol, rtol) for x, y in zip(a, b))
    numbers = (bool, int, float, complex)
    if not (isinstance(a, numbers) and isinstance(b, numbers)):
        return False
    if a == b:
        return True
    try:
        return abs(a - b) <= atol + rtol * abs(b)
    except (OverflowError, TypeError):
        return False


def check_output(spec, state, inp, out, exp):
    """evalplus's comparison, special oracles included."""
    if isinstance(exp, Digest):
        return exp.matches(out)
    dataset = spec.get("dataset")
    entry = spec["entry_point"]
    try:
        exact = bool(out == exp)
    except BaseException:
        exact = False
    if dataset == "mbpp":
        if entry == "are_equivalent":  # Mbpp/164
            exact = True
        elif entry == "sum_div":  # Mbpp/295
            exact = exact or out == 0
        elif entry == "surface_Area":  # Mbpp/581
            exact = exact or abs(out - _surface_area(*inp)) <= state["atol"]
        elif entry == "digit_distance_nums":  # Mbpp/558
            exact = exact or out == _digit_distance(*inp)
        elif entry in spec.get("set_eq", ()):
            exact = set(out) == set(exp)
        elif entry in spec.get("not_none", ()):
            exact = out == exp if isinstance(out, bool) else exp == (out is not None)
    if dataset == "humaneval" and entry == "find_zero":
        return abs(_poly(*inp, out)) <= state["atol"]
    if state["atol"] == 0 and is_floats(exp):
        state["atol"] = 1e-6  # evalplus: once a float output is seen, atol stays 1e-6
    if not exact and state["atol"] != 0:
        if type(out) is not type(exp):
            return False
        if isinstance(exp, (list, tuple)) and len(out) != len(exp):
            return False
        return _close(out, exp, state["atol"])
    return exact


def main():
    with open("spec.json", encoding="utf-8") as fh:
        spec = json.load(fh)
    with open("solution.py", encoding="utf-8") as fh:
        code = fh.read()
    mode = spec["mode"]
    signal.signal(signal.SIGALRM, _alarm)
    env = {"__name__": "solution", "__builtins__": __builtins__}
    swallow()
    try:
        signal.setitimer(signal.ITIMER_REAL, spec.get("load_seconds", 10.0))
        exec(compile(code, "solution.py", "exec"), env)
        signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        restore()
        emit({"passed": False, "stage": "load",
              "reason": "loading the code failed: " + describe(exc)})
    restore()
    holder = env
    if spec.get("class_name"):
        cls = env.get(spec["class_name"])
        if cls is None:
            emit({"passed": False, "stage": "load",
                  "reason": "class " + spec["class_name"] + " is not defined"})
        try:
            holder = {spec["entry_point"]: getattr(cls(), spec["entry_point"])}
        except BaseException as exc:
            emit({"passed": False, "stage": "load",
                  "reason": "method " + spec["entry_point"] + " unavailable: " + describe(exc)})
    fn = holder.get(spec["entry_point"])
    if not callable(fn):
        emit({"passed": False, "stage": "load",
              "reason": "function " + spec["entry_point"] + " is not defined"})
    counts = {}
    outputs = {}
    for phase in spec["phases"]:
        name = phase["name"]
        inputs = decode_value(phase["inputs"])
        expected = decode_value(phase["expected"]) if mode == "check" else None
        limits = phase["time_limits"]
        state = {"atol": spec.get("atol", 0)}
        results = []
        times = []
        for i, inp in enumerate(inputs):
            swallow()
            start = time.perf_counter()
            try:
                signal.setitimer(signal.ITIMER_REAL, limits[i] if i < len(limits) else limits[-1])
                out = fn(*inp)
                signal.setitimer(signal.ITIMER_REAL, 0)
            except BaseException as exc:
                signal.setitimer(signal.ITIMER_REAL, 0)
                restore()
                emit({"passed": False, "stage": name, "index": i, "input": short(inp),
                      "reason": describe(exc), "counts": counts})
            elapsed = time.perf_counter() - start
            restore()
            if mode == "expected":
                if entry_not_none(spec):
                    out = out is not None
                if spec.get("digest_large") and not is_floats(out) and is_large(out):
                    encoded = {"$t": "digest", "v": digest_value(out), "size": len(out)}
                else:
                    encoded = encode_value(out)
                results.append(encoded)
                times.append(elapsed)
                continue
            if spec.get("tuple_as_list") and isinstance(out, tuple):
                out = list(out)
            try:
                ok = check_output(spec, state, inp, out, expected[i])
            except BaseException as exc:
                ok = False
            if not ok:
                emit({"passed": False, "stage": name, "index": i, "reason": "wrong output",
                      "input": short(inp), "got": short(out), "expected": short(expected[i]),
                      "counts": counts})
        counts[name] = len(inputs)
        if mode == "expected":
            outputs[name] = {"outputs": results, "times": times}
    emit({"passed": True, "counts": counts, "outputs": outputs} if mode == "expected"
         else {"passed": True, "counts": counts})


def entry_not_none(spec):
    return spec.get("dataset") == "mbpp" and spec["entry_point"] in spec.get("not_none", ())


main()
'''
)
"""A program that loads ``solution.py`` and runs its function on the inputs of ``spec.json``.

``spec.json`` holds ``mode`` (``expected``: record the outputs and times of the reference
solution; ``check``: compare the model's outputs), ``entry_point``, ``atol``, ``dataset``
(``humaneval``/``mbpp`` for evalplus's special oracles, else ``None``), optional
``class_name`` (LeetCode style ``Solution`` classes), ``tuple_as_list``, and ``phases``: each a
``name``, tagged-JSON ``inputs`` (argument lists), ``expected`` outputs (check mode) and
per-input ``time_limits``. The first failing input ends the run (evalplus's fast check)."""


# --------------------------------------------------------------------------------------------
# Verdicts


class Verdict(BaseModel):
    """What a harness reported about one program (or why it reported nothing)."""

    model_config = ConfigDict(frozen=True)

    passed: bool
    reason: str | None = None
    stage: str | None = None
    """``load``, or the phase/test group where the first failure happened."""
    index: int | None = None
    """The failing input's position in its phase."""
    counts: dict[str, int] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    payload: dict[str, Any] | None = None
    """The harness's full report (expected-output runs carry the outputs here)."""


def read_verdict(result: SandboxResult, nonce: str) -> Verdict:
    """The harness's verdict line in ``result``, else a failure explaining how the run ended."""
    prefix = nonce + " "
    report: dict[str, Any] | None = None
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(prefix):
            try:
                parsed = json.loads(line[len(prefix) :])
            except ValueError:
                continue
            if isinstance(parsed, dict):
                report = parsed
                break
    if report is None:
        return Verdict(passed=False, reason=_run_failure(result), stage="run")
    details = {
        k: v for k, v in report.items() if k in ("input", "got", "expected", "test", "stderr")
    }
    return Verdict(
        passed=bool(report.get("passed")) and result.status is RunStatus.OK,
        reason=report.get("reason"),
        stage=report.get("stage"),
        index=report.get("index"),
        counts=report.get("counts") or {},
        details=details,
        payload=report,
    )


def _run_failure(result: SandboxResult) -> str:
    status = result.status
    if status is RunStatus.TIMEOUT:
        return f"timeout: {result.detail or 'time limit exceeded'}"
    if status is RunStatus.MEMORY_EXCEEDED:
        return f"memory limit exceeded: {result.detail or ''}".rstrip(": ")
    if status is RunStatus.OUTPUT_LIMIT:
        return f"output limit: {result.detail}"
    if status is RunStatus.SYNTAX_ERROR:
        return f"syntax error: {result.detail}"
    if status is RunStatus.SANDBOX_ERROR:
        return f"sandbox error: {result.detail}"
    if status is RunStatus.CRASHED:
        return f"crashed: {result.detail}"
    tail = [line for line in result.stderr.strip().splitlines() if line.strip()]
    if status is RunStatus.OK:
        return "the program exited before the harness reported (exit or os._exit in the code?)"
    return f"failed: {tail[-1][:300] if tail else result.detail or 'no report'}"


def verdict_score(verdict: Verdict, solution: PreparedSolution, **extra: Any) -> ItemScore:
    """An :class:`ItemScore` from a harness verdict (1 when passed, else 0 with the reason)."""
    details: dict[str, Any] = {**solution.details, **verdict.details, **extra}
    if verdict.counts:
        details["tests_run"] = verdict.counts
    if verdict.stage is not None:
        details["stage"] = verdict.stage
    if verdict.index is not None:
        details["failed_index"] = verdict.index
    return ItemScore(
        score=1.0 if verdict.passed else 0.0,
        extracted=solution.code,
        method=solution.method,
        reason=None if verdict.passed else (verdict.reason or "failed"),
        details=details,
    )


def failure_score(reason: str, *, extracted: str | None = None, **details: Any) -> ItemScore:
    """A zero score with a reason (nothing to run, or the sandbox could not run it)."""
    return ItemScore(
        score=0.0,
        extracted=extracted,
        method="code_block" if extracted is not None else None,
        reason=reason,
        details=details,
    )


# --------------------------------------------------------------------------------------------
# Solutions


@dataclass(frozen=True)
class PreparedSolution:
    """The code to run for one answer, or the reason there is none (``code is None``)."""

    code: str | None
    """What was extracted from the answer (stored as ``ItemScore.extracted``)."""
    program: str | None
    """What runs: ``code`` after :func:`sanitize_functions` and prepended imports."""
    reason: str | None
    method: str | None = "code_block"
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.program is not None

    def failure(self) -> ItemScore:
        return failure_score(self.reason or "no code", extracted=self.code, **dict(self.details))


def prepare_solution(
    answer_text: str,
    *,
    keep_functions_only: bool = False,
    prelude: str = "",
) -> PreparedSolution:
    """Extract the program from an answer (never the reasoning) and check that it parses.

    ``keep_functions_only`` applies :func:`sanitize_functions` (evalplus keeps only the
    definitions of a chat model's answer, so a demo ``print(...)`` or an ``if __name__``
    block does not run); ``prelude`` (e.g. the prompt's imports) is put before the code.
    """
    extracted = extract_code(answer_text)
    if extracted.code is None:
        return PreparedSolution(code=None, program=None, reason=extracted.reason, method=None)
    if extracted.reason is not None:
        return PreparedSolution(
            code=extracted.code, program=None, reason=f"code {extracted.reason}"
        )
    details: dict[str, Any] = {}
    if extracted.block is not None and not extracted.block.terminated:
        details["unterminated_block"] = True
    code = extracted.code
    program = code
    if keep_functions_only:
        program, dropped = sanitize_functions(code)
        if dropped:
            details["dropped_statements"] = dropped
    if prelude:
        program = prelude.rstrip("\n") + "\n\n" + program
    return PreparedSolution(code=code, program=program, reason=None, details=details)


_KEPT = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Assign,
    ast.AnnAssign,
)


def sanitize_functions(code: str) -> tuple[str, list[str]]:
    """Keep the top-level imports, definitions and assignments of ``code`` (like evalplus's
    sanitizer for chat answers); drop the rest (demo calls, prints, asserts, ``if __name__``
    blocks, loops). Returns the kept code and a one-line note per dropped statement."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code, []
    lines = code.splitlines()
    kept: list[str] = []
    dropped: list[str] = []
    for node in tree.body:
        start = min(
            [node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))],
        )
        end = node.end_lineno or node.lineno
        text = "\n".join(lines[start - 1 : end])
        if isinstance(node, _KEPT):
            kept.append(text)
        else:
            first = text.strip().splitlines()[0] if text.strip() else type(node).__name__
            dropped.append(f"line {start}: {first[:80]}")
    return "\n".join(kept) + "\n", dropped


def import_lines(source: str) -> str:
    """The top-level import statements of ``source`` (a problem's prompt), as text."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ""
    lines = source.splitlines()
    chosen = [
        "\n".join(lines[node.lineno - 1 : (node.end_lineno or node.lineno)])
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
    ]
    return "\n".join(chosen)


# --------------------------------------------------------------------------------------------
# Running programs


def sandbox_python() -> str:
    """The interpreter sandboxed programs run: ``MODELATLAS_SANDBOX_PYTHON``, else the system
    ``python3`` (see :func:`modelatlas.evals.sandbox.default_python`)."""
    return os.environ.get(SANDBOX_PYTHON_ENV) or default_python()


_VERSION_LOCK = threading.Lock()
_VERSIONS: dict[str, str] = {}


def python_version(python: str | None = None) -> str:
    """``major.minor.micro`` of the sandbox interpreter (part of every expected-output cache
    key: outputs can differ between Python versions)."""
    python = python or sandbox_python()
    with _VERSION_LOCK:
        if python not in _VERSIONS:
            try:
                out = subprocess.run(
                    [python, "-S", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=True,
                ).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                out = "unknown"
            _VERSIONS[python] = out
        return _VERSIONS[python]


def missing_modules(modules: Sequence[str], python: str | None = None) -> list[str]:
    """Which of ``modules`` the sandbox interpreter cannot import (checked on the host with the
    same interpreter and a clean environment)."""
    python = python or sandbox_python()
    probe = (
        "import importlib.util, json, sys\n"
        "print(json.dumps([m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]))"
    )
    try:
        out = subprocess.run(
            [python, "-s", "-c", probe, *modules],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
        ).stdout
        missing: list[str] = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return list(modules)
    return missing


class _SandboxService:
    """One event loop thread that owns the pool, shared by every grading thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pools: dict[tuple[str, str, int], SandboxPool] = {}

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="modelatlas-coding-sandbox", daemon=True
                )
                thread.start()
                self._loop = loop
            return self._loop

    def pool(self, isolation: IsolationMode, python: str, parallel: int) -> SandboxPool:
        key = (isolation, python, parallel)
        with self._lock:
            if key not in self._pools:
                self._pools[key] = SandboxPool(
                    max_parallel=parallel, isolation=isolation, python=python
                )
            return self._pools[key]

    def run(
        self,
        pool: SandboxPool,
        jobs: Sequence[tuple[Program, SandboxLimits]],
        on_result: Callable[[int, SandboxResult], None] | None,
    ) -> list[SandboxResult]:
        loop = self._ensure_loop()

        async def one(index: int, program: Program, limits: SandboxLimits) -> SandboxResult:
            result = await pool.run(program, limits)
            if on_result is not None:
                on_result(index, result)
            return result

        async def all_jobs() -> list[SandboxResult]:
            return list(await asyncio.gather(*(one(i, p, lim) for i, (p, lim) in enumerate(jobs))))

        future: concurrent.futures.Future[list[SandboxResult]] = asyncio.run_coroutine_threadsafe(
            all_jobs(), loop
        )
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise


_SERVICE = _SandboxService()


def default_parallel() -> int:
    value = os.environ.get(SANDBOX_PARALLEL_ENV)
    if value and value.isdigit() and int(value) > 0:
        return int(value)
    return os.cpu_count() or 1


def run_programs(
    jobs: Sequence[tuple[Program, SandboxLimits]],
    *,
    isolation: IsolationMode = "auto",
    python: str | None = None,
    parallel: int | None = None,
    on_result: Callable[[int, SandboxResult], None] | None = None,
) -> list[SandboxResult]:
    """Run (program, limits) pairs in the shared sandbox pool; results in the order given.

    Sync, callable from any thread (also from a thread whose event loop is running): the
    programs run on the module's own loop, at most ``parallel`` at a time across all callers
    (default ``MODELATLAS_SANDBOX_PARALLEL``, else the CPU count).
    """
    if not jobs:
        return []
    pool = _SERVICE.pool(isolation, python or sandbox_python(), parallel or default_parallel())
    return _SERVICE.run(pool, jobs, on_result)


def new_nonce() -> str:
    """A fresh verdict marker for one run."""
    return "@@verdict-" + secrets.token_hex(12)


def function_program(
    solution: str, spec: Mapping[str, Any], *, nonce: str, label: str = ""
) -> Program:
    """The sandboxed program that runs :data:`FUNCTION_HARNESS` on ``solution`` with ``spec``."""
    return Program(
        source=FUNCTION_HARNESS,
        stdin=nonce + "\n",
        files={"spec.json": json.dumps(spec), "solution.py": solution},
        label=label,
    )


# --------------------------------------------------------------------------------------------
# evalplus (HumanEval+ and MBPP+): differential testing against the reference solution

EVALPLUS_INSTRUCTION = (
    "Please provide a self-contained Python script that solves the following problem "
    "in a markdown code block:"
)
"""evalplus's instruction for chat models (``codegen.py``), sent as one user message."""

MIN_TIME_LIMIT_S = 4.0
TIME_LIMIT_FACTOR = 4.0
PHASE_TIMEOUT_S = 60.0
"""evalplus's limits: each input may take max(4 s, 4 x the reference solution's time); a
phase (base or plus inputs) at most 60 s in all."""

# Large expected outputs (over 2,000 items or 32 KiB of text; HumanEval/15's alone are
# hundreds of megabytes) are kept as a sha256 of a normalized text form in which values equal
# under ``==`` read the same (see ``_norm_repr`` in CODEC_SOURCE), not shipped whole to every
# check run. Not for float outputs (compared with a tolerance) nor special oracles.

_EXPECTED_LIMITS = SandboxLimits(
    wall_seconds=600,
    cpu_seconds=600,
    memory_bytes=4 << 30,
    max_output_bytes=256 << 20,
    max_file_bytes=256 << 20,
)


class EvalPlusProblem(BaseModel):
    """One evalplus task, inputs decoded (MBPP+'s tuples, sets and complex numbers restored)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str
    atol: float
    base_input: list[Any]
    plus_input: list[Any]

    @property
    def reference_program(self) -> str:
        return self.prompt + self.canonical_solution


def _safe_name(task_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in task_id)


def harness_id() -> str:
    """A short digest of the harness source: expected outputs are cached per harness."""
    import hashlib

    return hashlib.sha256(FUNCTION_HARNESS.encode()).hexdigest()[:12]


@dataclass
class EvalPlusSuite:
    """HumanEval+ or MBPP+: problems, cached expected outputs, and batch scoring.

    ``flavor`` is evalplus's dataset name (``humaneval`` or ``mbpp``), which selects its
    special oracles. ``read_problems(data_dir)`` returns the dataset's problems and the sha256
    of the file they came from.
    """

    key: str
    flavor: str
    read_problems: Callable[[Any], tuple[str, dict[str, EvalPlusProblem]]]
    set_eq: tuple[str, ...] = ()
    not_none: tuple[str, ...] = ()
    prepend_prompt_imports: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _problems: dict[str, tuple[str, dict[str, EvalPlusProblem]]] = field(default_factory=dict)
    _expected: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    # -- the benchmark's functions (load, prompt, score), shared by HumanEval+ and MBPP+ ---

    def load(
        self, *, limit: int | None = None, seed: int = 0, data_dir: Path | None = None
    ) -> list[Item]:
        _, problems = self.problems(data_dir)
        items = [
            Item(
                id=p.task_id,
                input={"prompt": p.prompt, "entry_point": p.entry_point},
                target=p.canonical_solution,
                metadata={
                    "base_inputs": len(p.base_input),
                    "plus_inputs": len(p.plus_input),
                    **({"data_dir": str(data_dir)} if data_dir is not None else {}),
                },
            )
            for p in problems.values()
        ]
        return sample_items(items, limit, seed)

    @staticmethod
    def prompt(item: Item) -> list[ChatMessage]:
        text = f"{EVALPLUS_INSTRUCTION}\n```python\n{item.input['prompt'].strip()}\n```"
        return [{"role": "user", "content": text}]

    @staticmethod
    def _data_dir(item: Item) -> Path | None:
        value = item.metadata.get("data_dir")
        return Path(value) if value else None

    def score(self, item: Item, answer_text: str) -> ItemScore:
        return self.score_many([item.id], [answer_text], self._data_dir(item))[0]

    def score_items(self, items: list[Item], answers: list[str]) -> list[ItemScore]:
        """Score many answers at once (all problems in parallel in the sandbox pool)."""
        return self.score_many(
            [it.id for it in items], answers, self._data_dir(items[0]) if items else None
        )

    # -- data ----------------------------------------------------------------------------

    def problems(self, data_dir: Any = None) -> tuple[str, dict[str, EvalPlusProblem]]:
        """(dataset sha256, problems by task id), read once per process and data folder."""
        memo_key = str(data_dir)
        with self._lock:
            if memo_key not in self._problems:
                self._problems[memo_key] = self.read_problems(data_dir)
            return self._problems[memo_key]

    def _spec(self, problem: EvalPlusProblem, mode: str) -> dict[str, Any]:
        return {
            "mode": mode,
            "dataset": self.flavor,
            "entry_point": problem.entry_point,
            "atol": problem.atol,
            "set_eq": list(self.set_eq),
            "not_none": list(self.not_none),
            "load_seconds": 30.0,
            "digest_large": not (
                problem.atol or problem.entry_point in (*self.set_eq, *self.not_none, "find_zero")
            ),
        }

    def cache_folder(self, sha256: str) -> Any:
        from modelatlas.settings import home_dir

        return (
            home_dir()
            / "cache"
            / "coding"
            / self.key
            / f"{sha256[:16]}-py{python_version()}-h{harness_id()}"
        )

    def expected_outputs(
        self,
        task_ids: Sequence[str],
        data_dir: Any = None,
        *,
        on_result: Callable[[int, SandboxResult], None] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """The reference solution's outputs (and times) per task: from memory, else the disk
        cache (``$MODELATLAS_HOME/cache/coding/<key>/<dataset sha>-py<version>-h<harness>``),
        else computed in the sandbox (all missing tasks in parallel) and cached."""
        import gzip

        sha, problems = self.problems(data_dir)
        folder = self.cache_folder(sha)
        found: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        for task_id in dict.fromkeys(task_ids):
            memo = self._expected.get((sha, task_id))
            if memo is not None:
                found[task_id] = memo
                continue
            path = folder / f"{_safe_name(task_id)}.json.gz"
            if path.is_file():
                try:
                    with gzip.open(path, "rt", encoding="utf-8") as fh:
                        found[task_id] = json.load(fh)
                    self._expected[(sha, task_id)] = found[task_id]
                    continue
                except (OSError, ValueError):
                    pass  # a damaged cache entry is recomputed
            missing.append(task_id)
        if not missing:
            return found
        jobs: list[tuple[Program, SandboxLimits]] = []
        nonces: list[str] = []
        for task_id in missing:
            problem = problems[task_id]
            nonce = new_nonce()
            nonces.append(nonce)
            spec = self._spec(problem, "expected")
            spec["phases"] = [
                {
                    "name": name,
                    "inputs": encode_value(inputs),
                    "time_limits": [60.0] * max(len(inputs), 1),
                }
                for name, inputs in (("base", problem.base_input), ("plus", problem.plus_input))
            ]
            jobs.append(
                (
                    function_program(
                        problem.reference_program, spec, nonce=nonce, label=f"{task_id} reference"
                    ),
                    _EXPECTED_LIMITS,
                )
            )
        results = run_programs(jobs, on_result=on_result)
        folder.mkdir(parents=True, exist_ok=True)
        failures: list[str] = []
        for task_id, nonce, result in zip(missing, nonces, results, strict=True):
            verdict = read_verdict(result, nonce)
            if not verdict.passed or verdict.payload is None:
                failures.append(f"{task_id}: {verdict.reason}")
                continue
            outputs = verdict.payload["outputs"]
            path = folder / f"{_safe_name(task_id)}.json.gz"
            tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.part")
            with gzip.open(tmp, "wt", encoding="utf-8") as fh:
                json.dump(outputs, fh)
            os.replace(tmp, path)
            self._expected[(sha, task_id)] = outputs
            found[task_id] = outputs
        if failures:
            from modelatlas.errors import UserError

            raise UserError(
                f"The reference solution of {self.key} failed in the sandbox for "
                f"{len(failures)} task(s), so their expected outputs are unknown: "
                + "; ".join(failures[:5]),
                hint="This is a problem with the sandbox or the dataset, not the model.",
            )
        return found

    # -- scoring -------------------------------------------------------------------------

    def check_spec(self, problem: EvalPlusProblem, expected: Mapping[str, Any]) -> dict[str, Any]:
        """The harness spec that checks a solution against the reference's outputs."""
        spec = self._spec(problem, "check")
        phases = []
        for name, inputs in (("base", problem.base_input), ("plus", problem.plus_input)):
            times = expected[name]["times"]
            phases.append(
                {
                    "name": name,
                    "inputs": encode_value(inputs),
                    "expected": expected[name]["outputs"],
                    "time_limits": [max(MIN_TIME_LIMIT_S, TIME_LIMIT_FACTOR * t) for t in times]
                    or [MIN_TIME_LIMIT_S],
                }
            )
        spec["phases"] = phases
        return spec

    @staticmethod
    def check_limits(spec: Mapping[str, Any]) -> SandboxLimits:
        wall = 10.0 + float(spec.get("load_seconds", 30.0))
        for phase in spec["phases"]:
            wall += min(PHASE_TIMEOUT_S, sum(phase["time_limits"])) + 2.0
        return SandboxLimits(
            wall_seconds=wall,
            cpu_seconds=int(wall) + 1,
            memory_bytes=4 << 30,
            max_output_bytes=1 << 20,
            max_file_bytes=256 << 20,
        )

    def check_programs(
        self,
        solutions: Sequence[tuple[str, str]],
        data_dir: Any = None,
        *,
        on_result: Callable[[int, SandboxResult], None] | None = None,
    ) -> list[Verdict]:
        """Run (task id, program) pairs against the expected outputs; verdicts in order."""
        _, problems = self.problems(data_dir)
        expected = self.expected_outputs([task for task, _ in solutions], data_dir)
        jobs: list[tuple[Program, SandboxLimits]] = []
        nonces: list[str] = []
        for task_id, program in solutions:
            spec = self.check_spec(problems[task_id], expected[task_id])
            nonce = new_nonce()
            nonces.append(nonce)
            jobs.append(
                (
                    function_program(program, spec, nonce=nonce, label=task_id),
                    self.check_limits(spec),
                )
            )
        results = run_programs(jobs, on_result=on_result)
        return [read_verdict(result, nonce) for result, nonce in zip(results, nonces, strict=True)]

    def prepare(self, problem: EvalPlusProblem, answer_text: str) -> PreparedSolution:
        prelude = import_lines(problem.prompt) if self.prepend_prompt_imports else ""
        return prepare_solution(answer_text, keep_functions_only=True, prelude=prelude)

    def score_many(
        self, task_ids: Sequence[str], answers: Sequence[str], data_dir: Any = None
    ) -> list[ItemScore]:
        """Score answers (the answer channel only) to the given tasks, all in one batch."""
        _, problems = self.problems(data_dir)
        prepared = [
            self.prepare(problems[task_id], answer)
            for task_id, answer in zip(task_ids, answers, strict=True)
        ]
        runnable = [
            (i, task_ids[i], p.program) for i, p in enumerate(prepared) if p.program is not None
        ]
        scores: list[ItemScore | None] = [None if p.ok else p.failure() for p in prepared]
        if runnable:
            verdicts = self.check_programs(
                [(task_id, program) for _, task_id, program in runnable], data_dir
            )
            for (i, _, _), verdict in zip(runnable, verdicts, strict=True):
                scores[i] = verdict_score(verdict, prepared[i])
        return [s for s in scores if s is not None]


# --------------------------------------------------------------------------------------------
# The standard-input harness (LiveCodeBench's stdin problems)

STDIO_HARNESS = r'''
import io, json, os, signal, sys, tempfile
from decimal import Decimal

try:
    sys.set_int_max_str_digits(0)
except AttributeError:
    pass


class HarnessTimeout(BaseException):
    pass


def _alarm(signum, frame):
    raise HarnessTimeout()


NONCE = sys.stdin.readline().strip()
_OUT = os.fdopen(os.dup(1), "w", encoding="utf-8")
_SAVED_IN = os.dup(0)
_REAL = (sys.stdout, sys.stderr, sys.stdin)


def emit(result):
    _OUT.write(NONCE + " " + json.dumps(result) + "\n")
    _OUT.flush()
    os._exit(0)


def short(text, limit=200):
    return text if len(text) <= limit else text[: limit // 2] + " ... " + text[-limit // 2 :]


def stripped_lines(text):
    return [line.strip() for line in text.strip().split("\n")]


def decimals(line):
    try:
        return [Decimal(part) for part in line.split()]
    except Exception:
        return None


def same_output(got, expected):
    """LiveCodeBench's grade_stdio: stripped lines equal, or equal as decimal numbers."""
    got_lines, exp_lines = stripped_lines(got), stripped_lines(expected)
    if len(got_lines) != len(exp_lines):
        return False, "wrong answer: %d output lines, expected %d" % (
            len(got_lines), len(exp_lines))
    for number, (a, b) in enumerate(zip(got_lines, exp_lines)):
        if a == b:
            continue
        da, db = decimals(a), decimals(b)
        if da is None or db is None or da != db:
            return False, "wrong answer at line %d: %s != %s" % (number + 1, short(a), short(b))
    return True, None


def run_one(code, text, seconds):
    """Run the program once with ``text`` on fd 0 and fd 1 captured in a file."""
    with tempfile.TemporaryFile() as stdin_file, tempfile.TemporaryFile() as stdout_file:
        stdin_file.write(text.encode("utf-8"))
        stdin_file.seek(0)
        os.dup2(stdin_file.fileno(), 0)
        os.dup2(stdout_file.fileno(), 1)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "rb", closefd=False), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "wb", closefd=False), encoding="utf-8")
        sys.stderr = io.StringIO()
        error = None
        try:
            signal.setitimer(signal.ITIMER_REAL, seconds)
            exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
        except SystemExit:
            pass
        except BaseException as exc:
            error = exc
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            sys.stdout.flush()
        except BaseException:
            pass
        sys.stdout, sys.stderr, sys.stdin = _REAL
        os.dup2(_SAVED_IN, 0)
        stdout_file.seek(0)
        output = stdout_file.read().decode("utf-8", errors="replace")
    return output, error


def main():
    with open("spec.json", encoding="utf-8") as fh:
        spec = json.load(fh)
    with open("solution.py", encoding="utf-8") as fh:
        code = compile(fh.read(), "solution.py", "exec")
    signal.signal(signal.SIGALRM, _alarm)
    for i, test in enumerate(spec["tests"]):
        output, error = run_one(code, test["input"], spec["time_limit"])
        if error is not None:
            reason = "timeout" if isinstance(error, HarnessTimeout) else (
                type(error).__name__ + (": " + str(error)[:200] if str(error) else ""))
            emit({"passed": False, "stage": "tests", "index": i, "reason": reason,
                  "input": short(test["input"]), "counts": {"tests": i}})
        ok, why = same_output(output, test["output"])
        if not ok:
            emit({"passed": False, "stage": "tests", "index": i, "reason": why,
                  "input": short(test["input"]), "got": short(output),
                  "expected": short(test["output"]), "counts": {"tests": i}})
    emit({"passed": True, "counts": {"tests": len(spec["tests"])}})


main()
'''
"""Runs ``solution.py`` as ``__main__`` once per test of ``spec.json`` (``tests``: input and
expected output text; ``time_limit`` seconds per test) with the input on file descriptor 0
and file descriptor 1 captured (so ``input()``, ``sys.stdin.buffer``, ``open(0)``, ``print``
and ``os.write(1, ...)`` all work), and compares like LiveCodeBench."""


def stdio_program(
    solution: str, spec: Mapping[str, Any], *, nonce: str, label: str = ""
) -> Program:
    """The sandboxed program that runs :data:`STDIO_HARNESS` on ``solution`` with ``spec``."""
    return Program(
        source=STDIO_HARNESS,
        stdin=nonce + "\n",
        files={"spec.json": json.dumps(spec), "solution.py": solution},
        label=label,
    )
