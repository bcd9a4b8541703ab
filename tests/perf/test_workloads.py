"""Workloads: exact o200k input lengths, unique deterministic prompts, the PNG, prompt files."""

from __future__ import annotations

import json
import random
import struct
import zlib
from pathlib import Path

import pytest

from modelatlas.endpoints.client import prompt_text
from modelatlas.endpoints.tokens import count_tokens
from modelatlas.errors import NotFoundError, UserError
from modelatlas.perf.schedule import Load, arrival_offsets
from modelatlas.perf.workloads import (
    BUILTIN_WORKLOADS,
    RequestOptions,
    get_workload,
    load_prompt_file,
    make_png,
    plan_from_file,
    plan_requests,
    synthetic_prompt,
)


@pytest.mark.parametrize("name", ["100-300", "1k-1k", "10k-1.5k", "100k-2k"])
def test_builtin_workloads_have_exact_o200k_input(name: str) -> None:
    w = BUILTIN_WORKLOADS[name]
    [item] = plan_requests(w, 1, seed=3)
    assert count_tokens(prompt_text(item.request.messages)) == w.input_tokens
    assert item.request.max_tokens == w.output_tokens
    assert item.input_tokens_o200k == w.input_tokens


@pytest.mark.parametrize("n", [1, 5, 37, 64, 513])
def test_synthetic_prompt_lengths(n: int) -> None:
    assert count_tokens(synthetic_prompt(n, random.Random(n))) == n


def test_prompts_are_unique_and_deterministic() -> None:
    w = get_workload("1k-1k")
    a = plan_requests(w, 20, seed=1, warmup=2, options=RequestOptions(ignore_eos=True))
    b = plan_requests(w, 20, seed=1, warmup=2)
    texts = [prompt_text(p.request.messages) for p in a]
    assert len(set(texts)) == 22
    assert texts == [prompt_text(p.request.messages) for p in b]
    # each starts with its own nonce (defeats prefix caching)
    assert len({t[:15] for t in texts}) == 22
    assert texts != [prompt_text(p.request.messages) for p in plan_requests(w, 22, seed=2)]
    assert [p.warmup for p in a[:3]] == [True, True, False]
    assert a[0].request.extra_body == {"ignore_eos": True}
    # a later start gives new requests, never repeats
    later = plan_requests(w, 5, seed=1, start=22)
    assert {p.index for p in later} == set(range(22, 27))
    assert not {prompt_text(p.request.messages) for p in later} & set(texts)


def test_synthetic_workload_names() -> None:
    w = get_workload("2k-500")
    assert (w.input_tokens, w.output_tokens) == (2000, 500)
    assert get_workload("1.5k-100").input_tokens == 1500
    with pytest.raises(NotFoundError):
        get_workload("lots")


def test_png_is_one_megapixel_and_unique() -> None:
    png = make_png(random.Random(1))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1000, 1000)
    idat_len = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    raw = zlib.decompress(png[41 : 41 + idat_len])
    assert len(raw) == height * (1 + width * 3)
    assert make_png(random.Random(2)) != png


def test_vision_workload_sends_an_image_and_1k_text() -> None:
    [item] = plan_requests(get_workload("vision"), 1)
    content = item.request.messages[0]["content"]
    assert content[1]["type"] == "image_url"
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert count_tokens(prompt_text(item.request.messages)) == 1000


def test_prompt_files(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    rows = [
        {"prompt": "Say hi.", "max_tokens": 5, "id": "hi"},
        {"messages": [{"role": "user", "content": "Count to 3."}]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    items = plan_from_file(path, 3, max_tokens=50, prefix_nonce=True)
    assert [i.label for i in items] == ["hi", "p.jsonl:1", "hi"]
    assert [i.request.max_tokens for i in items] == [5, 50, 5]
    first, third = (prompt_text(items[k].request.messages) for k in (0, 2))
    assert first.endswith("Say hi.") and first != third
    plain = plan_from_file(path, 1)
    assert plain[0].request.messages[0]["content"] == "Say hi."
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"nope": 1}\n')
    with pytest.raises(UserError, match=r"bad.jsonl:2"):
        load_prompt_file(bad)
    with pytest.raises(UserError, match="Cannot read"):
        load_prompt_file(tmp_path / "missing.jsonl")


def test_arrival_schedules() -> None:
    assert arrival_offsets(4, 2.0, "constant", 0) == [0.0, 0.5, 1.0, 1.5]
    a = arrival_offsets(2000, 10.0, "poisson", 7)
    assert a == arrival_offsets(2000, 10.0, "poisson", 7)
    assert a != arrival_offsets(2000, 10.0, "poisson", 8)
    assert (len(a) - 1) / a[-1] == pytest.approx(10.0, rel=0.1)
    with pytest.raises(UserError):
        Load("rate", rate=None)
    with pytest.raises(UserError):
        Load("concurrency", 0)
