"""Math prompts, final-answer extraction, and equivalence checking.

Extraction (:func:`extract_math_answer`) is a cascade, each rule taking the *last* match:

1. ``boxed``: the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces handled);
2. ``answer_line``: the last ``Answer: ...`` line (``**Final Answer:** $73$``);
3. ``answer_is``: ``the final answer is ...``;
4. ``bold_final``: the last bold span in the final line, e.g. ``... is **73**.``;
5. ``last_line_number`` (integer answers only): the only number on the last line.

Comparison: integer targets (AIME, GSM8K) take a fast path when the answer reads as a plain
integer (``1,234``, ``$1234``, ``1234.0``, ``1234 dollars``). Everything else goes to
Hugging Face's ``math-verify`` (``parse`` then ``verify``) in a worker process with a hard
timeout: sympy can hang on pathological input, so a worker that overruns is killed and the
item scores 0 with reason ``verify timeout``; the run never hangs.

An optional LLM equality check (the reference site uses one where exact matching fails) is an
interface here (:class:`EqualityChecker`); the HTTP call, caching and retries are the runner's.
It fails closed: an unparseable verdict excludes the item and is counted.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import importlib
import json
import os
import queue
import re
import select
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from modelatlas.errors import MissingDependencyError
from modelatlas.evals.core import ChatMessage, ItemScore

MATH_TEMPLATE = (
    "Solve the following math problem step by step. Put your final answer within \\boxed{{}}: "
    "the last line of your response should be of the form 'Answer: \\boxed{{ANSWER}}' "
    "(without quotes) where ANSWER is the final answer to the problem.{hint}\n\n{problem}"
)


def math_messages(problem: str, hint: str = "") -> list[ChatMessage]:
    """The zero-shot user message for a math problem (``hint``: e.g. the answer's range)."""
    content = MATH_TEMPLATE.format(problem=problem.strip(), hint=f" {hint}" if hint else "")
    return [{"role": "user", "content": content}]


# --- extraction ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MathExtraction:
    answer: str | None
    method: str | None


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` or ``\\fbox{...}``, braces balanced."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    for start in reversed(starts):
        depth = 1
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i].strip()
    return None


def clean_answer(text: str) -> str:
    """Strip markdown and math delimiters around an answer: ``**$\\frac12$.**`` -> ``\\frac12``."""
    inner = last_boxed(text)
    if inner is not None:
        text = inner
    text = text.strip()
    for _ in range(3):
        before = text
        text = text.strip().strip("*_`").strip()
        text = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", text).strip()
        if text.startswith("$") and text.endswith("$") and len(text) > 1:
            text = text.strip("$").strip()
        text = text.rstrip(".").rstrip()
        if text == before:
            break
    return text


_LABEL = r"(?i:(?:final\s+)?answer)[\s*_]*[:\uff1a]"


def extract_math_answer(text: str, *, integer: bool = False) -> MathExtraction:
    """Find the final answer in a response (see the module docstring for the rules)."""
    boxed = last_boxed(text)
    if boxed:
        return MathExtraction(boxed, "boxed")

    lines = text.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        match = re.search(_LABEL + r"(.*)$", lines[index])
        if match:
            rest = clean_answer(match.group(1))
            if not rest:  # "**Final Answer:**" then the answer on the next non-empty line
                following = [line for line in lines[index + 1 :] if line.strip()]
                rest = clean_answer(following[0]) if following else ""
            if rest:
                return MathExtraction(rest, "answer_line")
            break

    found = None
    for match in re.finditer(r"(?i:(?:final\s+)?answer\s+is)\s*:?\s*(.+)", text):
        found = match.group(1)
    if found and clean_answer(found):
        return MathExtraction(clean_answer(found), "answer_is")

    non_empty = [line for line in lines if line.strip()]
    if non_empty:
        last_line = non_empty[-1]
        spans = [
            s
            for s in re.findall(r"\*\*(.+?)\*\*", last_line)
            if not s.strip().endswith(":") and re.search(r"[\d\\]", s)
        ]
        if spans:
            return MathExtraction(clean_answer(spans[-1]), "bold_final")
        if integer:
            numbers = re.findall(r"-?\d[\d,]*(?:\.\d+)?", last_line)
            if len(numbers) == 1:
                return MathExtraction(numbers[0], "last_line_number")
    return MathExtraction(None, None)


# --- integers ------------------------------------------------------------------------------


def parse_integer(text: str) -> int | None:
    """Read a plain integer answer: ``1,234``, ``1{,}234``, ``$1234``, ``1234.0``, ``-7``,
    ``025``, ``18 dollars``, ``18\\%``. ``None`` when it is anything else."""
    s = clean_answer(text)
    s = re.sub(r"\\text\{\s*([^{}]*)\}", r" \1 ", s)
    s = re.sub(r"\\(?:mbox|mathrm)\{\s*([^{}]*)\}", r" \1 ", s)
    s = (
        s.replace("\u2212", "-")
        .replace("\\$", "")
        .replace("$", "")
        .replace("\\%", "")
        .replace("%", "")
    )
    s = s.replace("{,}", ",").replace("\\,", "").replace("\\!", "").replace("\\ ", " ")
    s = s.replace("^\\circ", "").replace("^{\\circ}", "")
    s = s.strip()
    match = re.fullmatch(
        r"([+-]?)\s*(\d{1,3}(?:[, ]\d{3})+|\d+)(?:\.0*)?(?:\s+[A-Za-z][A-Za-z .]*)?", s
    )
    if not match:
        return None
    value = int(re.sub(r"[, ]", "", match.group(2)))
    return -value if match.group(1) == "-" else value


# --- math-verify in a worker process -------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of one ``math-verify`` comparison.

    ``timed_out`` is set when the worker overran its hard limit (and was killed) or when
    ``math-verify``'s own parse/compare timeout fired; ``error`` holds any other failure.
    """

    equal: bool
    timed_out: bool = False
    error: str | None = None
    gold_parsed: bool = True
    answer_parsed: bool = True


def _math_verify() -> tuple[Any, type[BaseException]]:
    """The ``math_verify`` module and its timeout exception (imported in workers only)."""
    module = importlib.import_module("math_verify")
    errors = importlib.import_module("math_verify.errors")
    return module, errors.TimeoutException


def _parse_for_verify(text: str, timeout_s: int) -> tuple[list[Any], bool]:
    """math-verify ``parse`` of an extracted answer; (parsed, timed_out)."""
    mv, timeout_exc = _math_verify()
    configs = [mv.LatexExtractionConfig(boxed_match_priority=0), mv.ExprExtractionConfig()]
    timed_out = False
    for candidate in (f"\\boxed{{{text}}}", f"${text}$", text):
        try:
            parsed = mv.parse(
                candidate,
                extraction_config=configs,
                parsing_timeout=timeout_s,
                raise_on_error=True,
            )
        except timeout_exc:
            timed_out = True
            continue
        except Exception:
            continue
        if parsed:
            return list(parsed), timed_out
    return [], timed_out


def verify_in_process(gold: str, answer: str, timeout_s: int = 5) -> VerifyResult:
    """Compare two extracted answers with math-verify, in this process (no hard timeout)."""
    mv, timeout_exc = _math_verify()
    gold_parsed, gold_timeout = _parse_for_verify(gold, timeout_s)
    answer_parsed, answer_timeout = _parse_for_verify(answer, timeout_s)
    timed_out = gold_timeout or answer_timeout
    for g in gold_parsed:
        for a in answer_parsed:
            try:
                if mv.verify(g, a, timeout_seconds=timeout_s, raise_on_error=True) is True:
                    return VerifyResult(equal=True)
            except timeout_exc:
                timed_out = True
            except Exception:
                continue
    return VerifyResult(
        equal=False,
        timed_out=timed_out,
        gold_parsed=bool(gold_parsed),
        answer_parsed=bool(answer_parsed),
    )


def worker_loop() -> None:  # pragma: no cover  (runs in the worker process)
    """A verify worker: JSON requests on stdin, one per line, JSON results on stdout."""
    import logging
    import signal
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    memory_limit_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    if memory_limit_mb > 0:
        with contextlib.suppress(ImportError, ValueError, OSError):
            import resource

            limit = memory_limit_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for name in ("math_verify", "latex2sympy2_extended"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but results on the protocol stream
    try:
        _math_verify()  # import once, before reporting ready
    except ImportError as exc:
        out.write(json.dumps({"ready": False, "error": f"import error: {exc}"}) + "\n")
        out.flush()
        return
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            result = verify_in_process(request["gold"], request["answer"], request["timeout"])
        except MemoryError:
            result = VerifyResult(equal=False, error="out of memory")
        except BaseException as exc:
            result = VerifyResult(equal=False, error=f"{type(exc).__name__}: {exc}"[:500])
        out.write(json.dumps(asdict(result)) + "\n")
        out.flush()


_WORKER_CODE = "from modelatlas.evals.scorers.math import worker_loop; worker_loop()"


class _WorkerTimeout(Exception):
    pass


class _Worker:
    """One ``python -c worker_loop()`` subprocess speaking JSON lines.

    A plain subprocess rather than :mod:`multiprocessing`: it does not re-run the parent's
    ``__main__`` (spawn) nor fork a threaded parent (fork).
    """

    def __init__(self, startup_timeout_s: float, memory_limit_mb: int | None) -> None:
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[3])  # the folder holding modelatlas/
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE, str(memory_limit_mb or 0)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._buffer = b""
        try:
            hello = self.read(startup_timeout_s)
        except (_WorkerTimeout, EOFError, ValueError):
            hello = {}
        if not hello.get("ready"):
            self.kill()
            error = str(hello.get("error", "no answer from the worker"))
            if error.startswith("import error"):
                raise MissingDependencyError(
                    "math-verify", "to check math answers", "pip install 'math-verify>=0.7'"
                )
            raise RuntimeError(f"the math-verify worker process did not start: {error}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, request: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()

    def read(self, timeout_s: float) -> dict[str, Any]:
        """The next JSON line from the worker; :class:`_WorkerTimeout` after ``timeout_s``."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _WorkerTimeout
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise EOFError("the verify worker exited")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        decoded: dict[str, Any] = json.loads(line)
        return decoded

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()


class MathVerifier:
    """A small pool of math-verify worker processes with a hard per-comparison timeout.

    Thread-safe: up to ``workers`` comparisons run at once; callers beyond that wait. Workers
    start on first use (importing sympy takes about a second) and are replaced after a
    timeout or a crash. Use :meth:`acheck` from asyncio code.
    """

    def __init__(
        self,
        *,
        workers: int = 2,
        timeout_s: float = 20.0,
        inner_timeout_s: int = 5,
        memory_limit_mb: int | None = 4096,
        startup_timeout_s: float = 120.0,
    ) -> None:
        self.timeout_s = timeout_s
        self.inner_timeout_s = inner_timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.startup_timeout_s = startup_timeout_s
        self._slots: queue.Queue[_Worker | None] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(workers):
            self._slots.put(None)

    def check(self, gold: str, answer: str) -> VerifyResult:
        """Is ``answer`` equivalent to ``gold``? Never blocks longer than about ``timeout_s``
        (plus a worker start when one is needed)."""
        if self._closed:
            raise RuntimeError("MathVerifier is closed")
        slot = self._slots.get()
        keep: _Worker | None = None
        try:
            worker = slot if slot is not None and slot.alive() else self._start()
            try:
                worker.send({"gold": gold, "answer": answer, "timeout": self.inner_timeout_s})
                reply = worker.read(self.timeout_s)
            except _WorkerTimeout:
                self._discard(worker)
                return VerifyResult(equal=False, timed_out=True, error="verify timeout")
            except (EOFError, OSError, ValueError) as exc:
                self._discard(worker)
                return VerifyResult(equal=False, error=f"verify worker died: {exc!r}")
            keep = worker
            return VerifyResult(**reply)
        finally:
            self._slots.put(keep)

    def _start(self) -> _Worker:
        worker = _Worker(self.startup_timeout_s, self.memory_limit_mb)
        with self._lock:
            self._all.append(worker)
        return worker

    async def acheck(self, gold: str, answer: str) -> VerifyResult:
        return await asyncio.to_thread(self.check, gold, answer)

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)

    def close(self) -> None:
        """Stop every worker process."""
        self._closed = True
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.kill()

    def __enter__(self) -> MathVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_default: MathVerifier | None = None
_default_lock = threading.Lock()


def default_verifier() -> MathVerifier:
    """The process-wide verifier used by the math benchmarks (closed at exit)."""
    global _default
    with _default_lock:
        if _default is None or _default._closed:
            _default = MathVerifier()
            atexit.register(_default.close)
        return _default


# --- scoring -------------------------------------------------------------------------------


def score_math(
    text: str,
    target: str,
    *,
    integer: bool = False,
    verifier: MathVerifier | None = None,
) -> ItemScore:
    """Score a response to a math item whose reference answer is ``target``.

    ``integer``: the reference is an integer (AIME, GSM8K): extraction may fall back to the
    last number on the last line, and integer-looking answers are compared as integers
    without starting math-verify.
    """
    extraction = extract_math_answer(text, integer=integer)
    if extraction.answer is None:
        return ItemScore(score=0.0, reason="no answer pattern found")
    answer = extraction.answer
    method = extraction.method
    if integer:
        gold_int = parse_integer(target)
        answer_int = parse_integer(answer)
        if gold_int is not None and answer_int is not None:
            ok = gold_int == answer_int
            return ItemScore(
                score=1.0 if ok else 0.0,
                reason=None if ok else "wrong answer",
                details={"compare": "integer"},
                extracted=answer,
                method=method,
            )
    result = (verifier or default_verifier()).check(target, answer)
    if result.equal:
        return ItemScore(
            score=1.0, extracted=answer, method=method, details={"compare": "math_verify"}
        )
    if result.timed_out:
        reason = "verify timeout"
    elif result.error:
        reason = f"verify error: {result.error}"
    elif not result.answer_parsed:
        reason = "answer not parseable"
    else:
        reason = "wrong answer"
    return ItemScore(
        score=0.0,
        reason=reason,
        extracted=answer,
        method=method,
        details={"compare": "math_verify"},
    )


# --- optional LLM equality check -----------------------------------------------------------

EQUALITY_PROMPT_VERSION = "1"

EQUALITY_TEMPLATE = (
    "Look at the following two expressions (answers to a math problem) and judge whether they "
    "are equivalent. Only perform trivial simplifications.\n\n"
    "Expression 1: {gold}\nExpression 2: {answer}\n\n"
    'Respond with only "Yes" or "No" (without quotes). Do not include a rationale.'
)


@dataclass(frozen=True)
class JudgeSpec:
    """The pinned judge: an exact endpoint and model snapshot with fixed sampling."""

    endpoint: str
    model: str
    temperature: float = 0.0
    max_tokens: int = 16
    prompt_version: str = EQUALITY_PROMPT_VERSION


class EqualityChecker(Protocol):
    """What a runner provides to ask the judge: one chat completion, verdict text back."""

    @property
    def judge(self) -> JudgeSpec: ...

    async def complete(self, messages: list[ChatMessage]) -> str: ...


def equality_messages(gold: str, answer: str) -> list[ChatMessage]:
    return [{"role": "user", "content": EQUALITY_TEMPLATE.format(gold=gold, answer=answer)}]


def equality_cache_key(judge: JudgeSpec, gold: str, answer: str) -> str:
    """A cache key covering the judge, its sampling, the prompt version and both answers."""
    payload = json.dumps(
        {"judge": asdict(judge), "gold": gold, "answer": answer}, sort_keys=True
    ).encode()
    return hashlib.sha256(payload).hexdigest()


def parse_equality_verdict(text: str) -> bool | None:
    """``True`` for Yes, ``False`` for No, ``None`` when the verdict cannot be read."""
    words: list[str] = re.findall(r"[a-z]+", text.strip().lower())
    if not words:
        return None
    if words[0] in ("yes", "no") and not ({"yes", "no"} <= set(words)):
        return words[0] == "yes"
    return None


def needs_equality_check(score: ItemScore) -> bool:
    """A wrong, extracted, non-integer-compared answer is worth a judge's look."""
    return (
        score.score == 0.0
        and not score.no_answer
        and not score.excluded
        and score.extracted is not None
        and score.details.get("compare") != "integer"
    )


def apply_equality_verdict(score: ItemScore, verdict_text: str, judge: JudgeSpec) -> ItemScore:
    """Fold a judge's verdict into a score; an unreadable verdict excludes the item."""
    verdict = parse_equality_verdict(verdict_text)
    details = {
        **score.details,
        "judge": f"{judge.endpoint}/{judge.model}",
        "judge_verdict": verdict_text[:200],
    }
    if verdict is None:
        return score.model_copy(
            update={"excluded": True, "reason": "unparseable judge verdict", "details": details}
        )
    if verdict:
        return score.model_copy(
            update={
                "score": 1.0,
                "reason": None,
                "method": f"{score.method}+judge",
                "details": details,
            }
        )
    return score.model_copy(update={"reason": "wrong answer (judge)", "details": details})


async def check_equality(score: ItemScore, gold: str, checker: EqualityChecker) -> ItemScore:
    """Ask the judge when :func:`needs_equality_check`; the checker does caching and retries
    (keyed by :func:`equality_cache_key`)."""
    if not needs_equality_check(score) or score.extracted is None:
        return score
    verdict = await checker.complete(equality_messages(gold, score.extracted))
    return apply_equality_verdict(score, verdict, checker.judge)
