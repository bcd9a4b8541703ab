"""Separate reasoning from the answer, per stream event.

Servers expose reasoning in one of three ways: ``delta.reasoning_content`` (DeepSeek, vLLM,
llama.cpp), ``delta.reasoning`` (OpenRouter, newer vLLM), or inline in ``content`` between
``<think>`` and ``</think>``. Inline tags are recognised when the content (after leading
whitespace) opens with ``<think>``, or when it contains ``</think>`` with no opening tag and no
reasoning field was used (templates that put ``<think>`` in the prompt). A ``<think>`` that is
never closed means the whole content was reasoning and there is no answer. Tags may be split
across events; the tag characters belong to neither channel.
"""

from __future__ import annotations

from dataclasses import dataclass

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


@dataclass(frozen=True, slots=True)
class EventText:
    """The text one event carried, per channel."""

    answer: str
    reasoning: str


@dataclass(frozen=True, slots=True)
class SplitText:
    """The result of :func:`split_channels`."""

    events: list[EventText]
    answer: str
    reasoning: str
    source: str | None
    """``reasoning_content``, ``reasoning``, ``think_tags`` or ``None``."""
    think_unclosed: bool


def _think_spans(content: str, field_reasoning: bool) -> tuple[int, int, int, bool] | None:
    """(reasoning start, reasoning end, answer start, unclosed) in ``content``, if tags are used."""
    stripped = len(content) - len(content.lstrip())
    if content.startswith(OPEN_TAG, stripped):
        start = stripped + len(OPEN_TAG)
        end = content.find(CLOSE_TAG, start)
        if end < 0:
            return start, len(content), len(content), True
        return start, end, end + len(CLOSE_TAG), False
    if not field_reasoning:
        end = content.find(CLOSE_TAG)
        if end >= 0:
            return 0, end, end + len(CLOSE_TAG), False
    return None


def split_channels(
    contents: list[str], field_reasoning: list[str], field_name: str | None
) -> SplitText:
    """Split each event's ``content`` and reasoning-field text into answer and reasoning.

    ``contents[i]`` and ``field_reasoning[i]`` are event ``i``'s ``delta.content`` and its
    ``delta.reasoning_content``/``delta.reasoning`` text ("" when absent); ``field_name`` names
    the reasoning field seen, if any.
    """
    content = "".join(contents)
    has_field = any(field_reasoning)
    spans = (
        _think_spans(content, has_field) if CLOSE_TAG in content or OPEN_TAG in content else None
    )
    if spans is None:
        events = [EventText(c, r) for c, r in zip(contents, field_reasoning, strict=True)]
        return SplitText(
            events, content, "".join(field_reasoning), field_name if has_field else None, False
        )
    r0, r1, a0, unclosed = spans
    events = []
    pos = 0
    for c, r in zip(contents, field_reasoning, strict=True):
        lo, hi = pos, pos + len(c)
        pos = hi
        inline = content[max(lo, r0) : min(hi, r1)] if lo < r1 and hi > r0 else ""
        answer = content[max(lo, a0) : hi] if hi > a0 else ""
        events.append(EventText(answer, r + inline))
    reasoning = "".join(field_reasoning) + content[r0:r1]
    return SplitText(events, content[a0:], reasoning, "think_tags", unclosed)
