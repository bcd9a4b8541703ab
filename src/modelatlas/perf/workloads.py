"""Workloads: what each perf request asks, with exact o200k input lengths and unique prompts.

The reference's workloads (``docs/METHODOLOGY.md``): 100 in / 300 out, 1k / 1k, 10k / 1.5k,
100k / 2k tokens, and a vision workload (one ~1-megapixel image plus ~1k text tokens; its output
length is not published: we ask for 1k). Any ``IN-OUT`` name (``2k-500``) is a synthetic
workload too, and a JSONL file of prompts is a custom workload.

Synthetic prompts are exactly ``input_tokens`` o200k tokens long (text only, before any chat
template). Each starts with a nonce drawn from a seeded RNG (so prefix caching cannot reuse
anything past the chat template) followed by randomly drawn words (so n-gram speculative decoding
has nothing to copy). The same seed gives the same prompts. Each word is one common o200k token
written with a leading space, so the count is exact by construction (and checked).

Output length is enforced with ``max_tokens``; ``ignore_eos`` (vLLM, SGLang, llama.cpp's native
server) is sent in the body when asked (and, for the embedded llama-cpp-python server, which
ignores that flag, a ``logit_bias`` banning the model's end-of-turn tokens: see
:func:`modelatlas.endpoints.resolve.ignore_eos_params`), and every request records whether the
server stopped early (see :class:`~modelatlas.perf.metrics.RequestMetrics`).
"""

from __future__ import annotations

import functools
import json
import random
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelatlas.endpoints.client import ChatRequest, image_part
from modelatlas.endpoints.tokens import count_tokens, o200k
from modelatlas.errors import NotFoundError, UserError

VOCABULARY_SIZE = 4096


@dataclass(frozen=True)
class Workload:
    """A named request shape: input tokens (o200k), output tokens, optional image."""

    name: str
    input_tokens: int
    output_tokens: int
    image: bool = False
    description: str = ""


BUILTIN_WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("100-300", 100, 300, description="100 input / 300 output tokens"),
        Workload("1k-1k", 1000, 1000, description="1k input / 1k output tokens"),
        Workload("10k-1.5k", 10_000, 1500, description="10k input / 1.5k output tokens"),
        Workload("100k-2k", 100_000, 2000, description="100k input / 2k output tokens"),
        Workload(
            "vision",
            1000,
            1000,
            image=True,
            description="one 1000x1000 PNG + 1k text tokens / 1k output tokens",
        ),
    )
}

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([km]?)$", re.IGNORECASE)


def _size(text: str) -> int | None:
    match = _SIZE.match(text.strip())
    if not match:
        return None
    mult = {"": 1, "k": 1000, "m": 1_000_000}[match.group(2).lower()]
    value = float(match.group(1)) * mult
    return int(value) if value.is_integer() and value >= 1 else None


def get_workload(name: str) -> Workload:
    """A built-in workload, or a synthetic ``IN-OUT`` one (``2k-500``, ``vision`` aside)."""
    if name in BUILTIN_WORKLOADS:
        return BUILTIN_WORKLOADS[name]
    left, sep, right = name.partition("-")
    if sep:
        tokens_in, tokens_out = _size(left), _size(right)
        if tokens_in and tokens_out:
            return Workload(name, tokens_in, tokens_out, description=f"{name} synthetic")
    raise NotFoundError("workload", name, [*BUILTIN_WORKLOADS, "IN-OUT (e.g. 2k-500)"])


# --- prompt text ----------------------------------------------------------------------------


@functools.cache
def vocabulary() -> tuple[str, ...]:
    """The ``VOCABULARY_SIZE`` most frequent o200k tokens of the form `` word`` (3-9 lowercase
    ASCII letters), each one token on its own and when concatenated."""
    enc = o200k()
    pattern = re.compile(rb" [a-z]{3,9}")
    ranks: dict[bytes, int] | None = getattr(enc, "_mergeable_ranks", None)
    if ranks is not None:
        items = sorted((rank, b) for b, rank in ranks.items() if pattern.fullmatch(b))
    else:  # pragma: no cover - older tiktoken
        items = []
        for rank in range(enc.n_vocab):
            try:
                b = enc.decode_single_token_bytes(rank)
            except KeyError:
                continue
            if pattern.fullmatch(b):
                items.append((rank, b))
    return tuple(b.decode() for _, b in items[:VOCABULARY_SIZE])


def _header(nonce: str, output_tokens: int | None) -> str:
    ask = f"about {output_tokens} tokens" if output_tokens else "a long text"
    return (
        f"[{nonce}] Write {ask}: a long story that uses the words listed below. "
        "Keep writing until you are stopped.\nWords:"
    )


#: Repeated after the words: small models lose an instruction that only precedes a long list.
_TAIL = "\nNow write the long story, and keep going."


def synthetic_prompt(
    input_tokens: int, rng: random.Random, *, output_tokens: int | None = None
) -> str:
    """A prompt of exactly ``input_tokens`` o200k tokens, unique per RNG state.

    Starts with ``[nonce]`` (12 hex digits) and an instruction when it fits, then random words,
    then the instruction again (``_TAIL``) when there is room for it.
    """
    nonce = f"{rng.getrandbits(48):012x}"
    words = vocabulary()
    head = _header(nonce, output_tokens)
    head_tokens = count_tokens(head)
    tail = _TAIL
    tail_tokens = count_tokens(tail)
    if head_tokens + tail_tokens > input_tokens:
        tail, tail_tokens = "", 0
    if head_tokens > input_tokens:
        head = f"[{nonce}]"
        head_tokens = count_tokens(head)
        if head_tokens > input_tokens:
            head, head_tokens = "", 0
    body = [rng.choice(words) for _ in range(input_tokens - head_tokens - tail_tokens)]
    text = head + "".join(body) + tail
    got = count_tokens(text)
    # Words are single tokens, so this holds by construction; adjust if a merge ever differs.
    while got != input_tokens:
        if got < input_tokens:
            body.append(rng.choice(words))
        elif body:
            body.pop()
        else:
            break
        text = head + "".join(body) + tail
        got = count_tokens(text)
    return text


# --- a ~1-megapixel PNG made with zlib/struct -----------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_png(rng: random.Random, width: int = 1000, height: int = 1000) -> bytes:
    """An RGB PNG of ``width`` x ``height`` (default 1.0 megapixel), unique per RNG state:
    horizontal colour bands, random rectangles and a strip of random noise."""
    bands = 16
    band_rows: list[bytes] = []
    for b in range(bands):
        base = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        band_rows.append(
            bytes(
                c
                for x in range(width)
                for c in ((base[0] + x * 255 // width) % 256, base[1], (base[2] + b * 16) % 256)
            )
        )
    rects = [
        (
            rng.randrange(width),
            rng.randrange(height),
            rng.randrange(20, width // 3),
            rng.randrange(20, height // 3),
            bytes((rng.randrange(256), rng.randrange(256), rng.randrange(256))),
        )
        for _ in range(24)
    ]
    noise_top = rng.randrange(height - 8)
    raw = bytearray()
    for y in range(height):
        row = bytearray(band_rows[y * bands // height])
        for x0, y0, w, h, colour in rects:
            if y0 <= y < y0 + h:
                x1 = min(x0 + w, width)
                row[x0 * 3 : x1 * 3] = colour * (x1 - x0)
        if noise_top <= y < noise_top + 8:
            row[:] = rng.randbytes(width * 3)
        raw += b"\x00" + row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(raw), 6))
        + _png_chunk(b"IEND", b"")
    )


# --- planned requests -----------------------------------------------------------------------


@dataclass
class PlannedRequest:
    """One request of a run, prepared before the load starts."""

    index: int
    request: ChatRequest
    label: str
    input_tokens_o200k: int
    requested_output_tokens: int | None
    warmup: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestOptions:
    """Request parameters shared by a run's requests."""

    ignore_eos: bool = False
    temperature: float | None = None
    include_usage: bool = True
    extra_body: dict[str, Any] = field(default_factory=dict)

    def body_extra(self) -> dict[str, Any]:
        extra = dict(self.extra_body)
        if self.ignore_eos:
            extra["ignore_eos"] = True
        return extra


def plan_requests(
    workload: Workload,
    count: int,
    *,
    seed: int = 0,
    warmup: int = 0,
    start: int = 0,
    options: RequestOptions | None = None,
) -> list[PlannedRequest]:
    """``warmup + count`` requests of ``workload``, indexed from ``start`` (the first ``warmup``
    are warm-up). Request ``i`` is drawn from ``Random(f"...{seed}:{workload}:{i}")``: a prompt
    does not depend on how many requests are planned, and distinct indices never repeat one."""
    options = options or RequestOptions()
    planned: list[PlannedRequest] = []
    for i in range(start, start + warmup + count):
        rng = random.Random(f"modelatlas-perf:{seed}:{workload.name}:{i}")
        text = synthetic_prompt(workload.input_tokens, rng, output_tokens=workload.output_tokens)
        content: Any = text
        if workload.image:
            content = [{"type": "text", "text": text}, image_part(make_png(rng))]
        planned.append(
            PlannedRequest(
                index=i,
                request=ChatRequest(
                    messages=[{"role": "user", "content": content}],
                    max_tokens=workload.output_tokens,
                    temperature=options.temperature,
                    include_usage=options.include_usage,
                    extra_body=options.body_extra(),
                ),
                label=workload.name,
                input_tokens_o200k=workload.input_tokens,
                requested_output_tokens=workload.output_tokens,
                warmup=i < start + warmup,
            )
        )
    return planned


def load_prompt_file(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL prompt file: ``{"prompt": str}`` or ``{"messages": [...]}``, optional
    ``max_tokens`` and ``id``. Errors name the file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"Cannot read the prompt file {path}: {exc.strerror}.") from exc
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise UserError(f"{path}:{number}: not valid JSON ({exc}).") from exc
        if not isinstance(row, dict):
            raise UserError(f"{path}:{number}: each line must be a JSON object.")
        if isinstance(row.get("prompt"), str):
            row["messages"] = [{"role": "user", "content": row["prompt"]}]
        if not isinstance(row.get("messages"), list) or not row["messages"]:
            raise UserError(f"{path}:{number}: needs a 'prompt' string or a 'messages' list.")
        max_tokens = row.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise UserError(f"{path}:{number}: 'max_tokens' must be a positive integer.")
        rows.append(row)
    if not rows:
        raise UserError(f"The prompt file {path} holds no prompts.")
    return rows


def plan_from_file(
    path: Path,
    count: int,
    *,
    seed: int = 0,
    warmup: int = 0,
    start: int = 0,
    max_tokens: int | None = None,
    prefix_nonce: bool = False,
    options: RequestOptions | None = None,
) -> list[PlannedRequest]:
    """Requests from a JSONL prompt file, in order, cycling when more are asked than it holds.

    ``prefix_nonce`` puts a seeded ``[nonce]`` before the first user text so repeats stay unique.
    """
    from modelatlas.endpoints.client import prompt_text

    options = options or RequestOptions()
    rows = load_prompt_file(path)
    planned: list[PlannedRequest] = []
    for i in range(start, start + warmup + count):
        row = rows[i % len(rows)]
        messages = json.loads(json.dumps(row["messages"]))
        if prefix_nonce:
            rng = random.Random(f"modelatlas-perf:{seed}:{path.name}:{i}")
            nonce = f"[{rng.getrandbits(48):012x}] "
            for message in messages:
                if message.get("role") == "user" and isinstance(message.get("content"), str):
                    message["content"] = nonce + message["content"]
                    break
        limit = row.get("max_tokens", max_tokens)
        planned.append(
            PlannedRequest(
                index=i,
                request=ChatRequest(
                    messages=messages,
                    max_tokens=limit,
                    temperature=options.temperature,
                    include_usage=options.include_usage,
                    extra_body=options.body_extra(),
                ),
                label=str(row.get("id", f"{path.name}:{i % len(rows)}")),
                input_tokens_o200k=count_tokens(prompt_text(messages)),
                requested_output_tokens=limit,
                warmup=i < start + warmup,
            )
        )
    return planned
