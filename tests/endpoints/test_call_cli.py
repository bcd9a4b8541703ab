"""`modelatlas call` from a user's seat: one request, clear errors for bad targets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from modelatlas.endpoints.sim import SimConfig, running_sim


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "modelatlas.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_call_against_the_simulator_prints_its_measurements() -> None:
    with running_sim(SimConfig(ttft_s=0.05, itl_s=0.005, tokens_per_chunk=2), mode="thread") as url:
        result = _cli(
            "call", "hi", "--base-url", url, "--model", "sim-model", "--max-tokens", "20", "--json"
        )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["output_tokens"] == 20
    assert data["ttft_s"] >= 0.05
    assert data["answer"].split() == ["hello"] * 20


def test_endpoint_down_is_one_message_naming_the_url() -> None:
    port = _closed_port()
    result = _cli("call", "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "m")
    assert result.returncode == 2
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_api_key_variable_is_named() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "modelatlas.cli", "call", "--endpoint", "openai/gpt-5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_endpoint_suggests_the_close_slug() -> None:
    result = _cli("call", "--endpoint", "openai/gtp-5")
    assert result.returncode == 2
    assert "Unknown endpoint 'openai/gtp-5'" in result.stderr
    assert "openai/gpt-5" in result.stderr


def test_malformed_user_catalog_names_file_and_field(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        '[[endpoints]]\nslug = "me/x"\nprovider = "me"\nmodel = "x"\napi_model_id = "x"\n'
        '[endpoints.prices]\ninput = "cheap"\n'
    )
    result = _cli("call", "--endpoint", "me/x", env={"MODELATLAS_CATALOG": str(catalog)})
    assert result.returncode == 2
    assert "catalog.toml" in result.stderr
    assert "prices.input" in result.stderr
    assert "Traceback" not in result.stderr
