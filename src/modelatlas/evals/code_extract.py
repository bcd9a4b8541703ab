"""Extract the program from a model's answer, for the coding benchmarks.

:func:`extract_code` takes **only the answer text** (the final response), never the reasoning
channel: a model that drafts code while thinking and then answers without code has answered
without code. The endpoint client separates reasoning from the answer; as a guard against
endpoints that leak it inline, any text up to the last ``</think>`` is ignored as well.

Rules, in order:

1. Fenced blocks are found line by line (CommonMark style: a line that starts, after up to any
   indentation, with three or more backticks or tildes; the block ends at a line holding only
   a fence of the same character at least as long). A fence that is never closed runs to the
   end of the answer (models that hit the token limit) and the block is marked unterminated.
2. Python blocks (tags ``python``, ``py``, ``python3``, ``py3``, any case, extra words after
   the tag ignored) are preferred; among them the last complete one, else the last one.
3. Without Python blocks, untagged blocks (a bare fence) are used the same way.
4. Blocks tagged with another language (``bash``, ``text``, ``json``...) are never taken.
5. Nothing found gives ``code=None`` and a reason: ``no code block``, or
   ``no python code block (found: bash, text)``.

The chosen code is then checked with :func:`ast.parse`; a failure is reported as
``does not parse: <message> (line N)``, with the code still returned so reports can show it.
"""

from __future__ import annotations

import ast
import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

PYTHON_TAGS = frozenset({"python", "py", "python3", "py3"})
NO_CODE_BLOCK = "no code block"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_THINK_END = "</think>"


class BlockKind(StrEnum):
    """How a block was tagged."""

    PYTHON = "python"
    UNTAGGED = "untagged"
    OTHER = "other"


class CodeBlock(BaseModel):
    """One fenced block of an answer."""

    model_config = ConfigDict(frozen=True)

    code: str
    tag: str
    """The info string's first word, lower-cased ('' for a bare fence)."""
    kind: BlockKind
    terminated: bool
    """False when the closing fence is missing (the block runs to the end of the answer)."""
    start_line: int
    """1-based line of the opening fence in the text searched."""


class ExtractedCode(BaseModel):
    """The outcome of :func:`extract_code`: the code, or the reason there is none."""

    model_config = ConfigDict(frozen=True)

    code: str | None
    block: CodeBlock | None
    block_count: int
    reason: str | None
    """Why the extraction is not usable: ``no code block``, ``does not parse: ...``."""
    parse_error: str | None = None

    @property
    def ok(self) -> bool:
        """True when code was found and (if checked) parses."""
        return self.code is not None and self.reason is None


def _kind(tag: str) -> BlockKind:
    if not tag:
        return BlockKind.UNTAGGED
    return BlockKind.PYTHON if tag in PYTHON_TAGS else BlockKind.OTHER


def _dedent(lines: list[str], indent: str) -> list[str]:
    """Remove the opening fence's indentation (blocks inside list items)."""
    if not indent:
        return lines
    return [
        line[len(indent) :] if line.startswith(indent) else line.lstrip(" \t") for line in lines
    ]


def find_code_blocks(answer: str) -> list[CodeBlock]:
    """All fenced blocks of ``answer``, in order (see the module docstring for the rules)."""
    lines = answer.splitlines()
    blocks: list[CodeBlock] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        fence = match["fence"]
        info = match["info"].strip()
        if fence[0] == "`" and "`" in info:  # an inline code span, not a fence
            i += 1
            continue
        tag = info.split()[0].lower().lstrip("{.").rstrip("}") if info else ""
        body: list[str] = []
        j = i + 1
        terminated = False
        while j < len(lines):
            line = lines[j].strip()
            if (
                line
                and line[0] == fence[0]
                and len(line) >= len(fence)
                and not line.strip(fence[0])
            ):
                terminated = True
                break
            body.append(lines[j])
            j += 1
        blocks.append(
            CodeBlock(
                code="\n".join(_dedent(body, match["indent"])).strip("\n") + "\n",
                tag=tag,
                kind=_kind(tag),
                terminated=terminated,
                start_line=i + 1,
            )
        )
        i = j + 1
    return blocks


def parse_error(code: str) -> str | None:
    """``None`` if ``code`` parses as Python, else ``does not parse: <message> (line N)``.

    Only parses (never compiles or runs) the code, so it is safe on untrusted input.
    """
    try:
        ast.parse(code)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno is not None else ""
        return f"does not parse: {exc.msg}{where}"
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return f"does not parse: {type(exc).__name__}: {exc}"
    return None


def _choose(blocks: list[CodeBlock]) -> CodeBlock | None:
    for kind in (BlockKind.PYTHON, BlockKind.UNTAGGED):
        candidates = [b for b in blocks if b.kind is kind and b.code.strip()]
        if candidates:
            complete = [b for b in candidates if b.terminated]
            return (complete or candidates)[-1]
    return None


def extract_code(answer: str, *, check_parse: bool = True) -> ExtractedCode:
    """The program in a model's final answer (never pass the reasoning text here).

    Returns the last complete Python block (see the module docstring), with ``reason`` set
    when nothing usable was found or, if ``check_parse``, when the code does not parse.
    """
    end = answer.rfind(_THINK_END)
    if end != -1:
        answer = answer[end + len(_THINK_END) :]
    blocks = find_code_blocks(answer)
    chosen = _choose(blocks)
    if chosen is None:
        others = sorted({b.tag for b in blocks if b.kind is BlockKind.OTHER})
        reason = f"no python code block (found: {', '.join(others)})" if others else NO_CODE_BLOCK
        return ExtractedCode(code=None, block=None, block_count=len(blocks), reason=reason)
    error = parse_error(chosen.code) if check_parse else None
    return ExtractedCode(
        code=chosen.code,
        block=chosen,
        block_count=len(blocks),
        reason=error,
        parse_error=error,
    )
