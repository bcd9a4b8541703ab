"""The simulated endpoint itself: routes, schedule, log file, thread mode, CLI options."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from modelatlas.endpoints import sim as sim_module
from modelatlas.endpoints.client import ChatRequest, EndpointClient, EndpointSpec, user_message
from modelatlas.endpoints.commands import sim_app
from modelatlas.endpoints.sim import Fault, FaultKind, SimConfig, fetch_log, reset, running_sim
from modelatlas.endpoints.tokens import count_tokens

from .conftest import Sim


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def test_models_and_health(sim: Sim) -> None:
    url = sim.set(model="my-model")
    assert _get(url + "/models")["data"][0]["id"] == "my-model"
    assert _get(url.removesuffix("/v1") + "/health") == {"status": "ok"}


def test_stream_bytes_have_exact_token_counts(sim: Sim) -> None:
    url = sim.set(ttft_s=0, itl_s=0, tokens_per_chunk=3, reasoning_tokens=4, output_tokens=7)
    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    body["max_tokens"] = 100
    req = urllib.request.Request(
        url + "/chat/completions", data=json.dumps(body).encode(), method="POST"
    )
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read().decode()
    events = [e.removeprefix("data: ") for e in text.split("\n\n") if e]
    assert events[-1] == "[DONE]"
    deltas = [json.loads(e)["choices"][0]["delta"] for e in events[:-1]]
    reasoning = [count_tokens(d["reasoning_content"]) for d in deltas if "reasoning_content" in d]
    answer = [count_tokens(d["content"]) for d in deltas if d.get("content")]
    assert reasoning == [3, 1]
    assert answer == [3, 3, 1]
    (entry,) = fetch_log(url)
    assert entry.status == 200 and entry.max_tokens == 100
    token_chunks = entry.token_chunks
    assert [(c.reasoning_tokens, c.answer_tokens) for c in token_chunks] == [
        (3, 0),
        (1, 0),
        (0, 3),
        (0, 3),
        (0, 1),
    ]
    assert [c.kind for c in entry.chunks] == ["role", *["token"] * 5, "finish", "done"]


def test_reset_clears_the_log(sim: Sim) -> None:
    url = sim.set(ttft_s=0, itl_s=0)
    urllib.request.urlopen(
        urllib.request.Request(
            url + "/chat/completions",
            data=b'{"messages": [], "max_tokens": 1}',
            headers={"Content-Type": "application/json"},
        ),
        timeout=10,
    ).read()
    assert len(fetch_log(url)) == 1
    reset(url)
    assert fetch_log(url) == []


def test_fault_spec_parsing() -> None:
    fault = Fault.parse("rate_limit:every=3,retry_after_s=0.5")
    assert (fault.kind, fault.every, fault.retry_after_s) == (FaultKind.RATE_LIMIT, 3, 0.5)
    assert Fault.parse("drop").kind is FaultKind.DROP
    with pytest.raises(ValueError):
        Fault.parse("explode:every=1")


async def test_thread_mode_and_jsonl_log(tmp_path: Path) -> None:
    log_path = tmp_path / "sim.jsonl"
    config = SimConfig(ttft_s=0.01, itl_s=0.001)
    with running_sim(config, mode="thread", log_path=log_path) as url:
        async with EndpointClient(EndpointSpec(base_url=url, model="sim")) as client:
            record = await client.chat(ChatRequest(messages=[user_message("hi")], max_tokens=4))
        assert record.ok, record.error
    lines = log_path.read_text().splitlines()
    assert len(lines) == 1
    entry = sim_module.SimRequestLog.model_validate_json(lines[0])
    assert entry.request_id == record.request_id
    assert sum(c.answer_tokens for c in entry.chunks) == 4


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(sim_app, name="sim")
    return app


def test_cli_builds_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_serve(config: SimConfig, host: str, port: int, log: Path | None) -> None:
        seen.update(config=config, host=host, port=port, log=log)

    monkeypatch.setattr(sim_module, "serve", fake_serve)
    args = ["--port", "0", "--ttft-s", "0.5", "--tokens-per-chunk", "3"]
    args += ["--reasoning-tokens", "8", "--reasoning-field", "think", "--no-usage"]
    args += ["--fault", "rate_limit:every=3,retry_after_s=2", "--fault", "drop:rate=0.1"]
    result = CliRunner().invoke(_cli(), ["sim", "serve", *args])
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert (config.ttft_s, config.tokens_per_chunk, config.reasoning_tokens) == (0.5, 3, 8)
    assert config.reasoning_field == "think" and not config.usage
    assert [f.kind for f in config.faults] == [FaultKind.RATE_LIMIT, FaultKind.DROP]


def test_cli_rejects_bad_options() -> None:
    from modelatlas.errors import UserError

    result = CliRunner().invoke(_cli(), ["sim", "serve", "--reasoning-field", "telepathy"])
    assert isinstance(result.exception, UserError)
    assert "reasoning_field" in str(result.exception)
