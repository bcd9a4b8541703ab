"""The client against the real simulated endpoint over real HTTP.

Timings are compared with what the simulator logged it sent (its own clock is the host's
monotonic clock, as the client's), never with wall-clock expectations. A process descheduled
on a saturated machine stamps arrivals late for real; such a hiccup is rare, so a timing
comparison is re-measured up to ``TIMING_TRIES`` times and passes when one measurement is
within tolerance. A client that stamps late systematically fails every try.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelatlas.endpoints.client import (
    ChatRequest,
    ClientOptions,
    EndpointClient,
    EndpointSpec,
    image_part,
    user_message,
)
from modelatlas.endpoints.records import CallRecord, EndpointCallError, ErrorKind
from modelatlas.endpoints.sim import ANSWER_WORD, REASONING_WORD, SimRequestLog, fetch_log
from modelatlas.errors import UserError

from .conftest import Sim

ARRIVAL_TOL_S = 0.010
"""Client arrival minus simulator send time: loopback plus scheduling, a few ms at most."""
SPEED_REL_TOL = 0.01
TIMING_TRIES = 3

FAST_RETRY = ClientOptions(backoff_base_s=0.01, backoff_max_s=0.05, seed=1)


async def call(
    url: str,
    *,
    options: ClientOptions | None = None,
    spec: EndpointSpec | None = None,
    **request: object,
) -> CallRecord:
    request.setdefault("messages", [user_message("Say hello.")])
    async with EndpointClient(spec or EndpointSpec(base_url=url, model="sim"), options) as client:
        return await client.chat(ChatRequest.model_validate(request))


def last_log(url: str, record: CallRecord) -> SimRequestLog:
    entries = [e for e in fetch_log(url) if e.request_id == record.request_id]
    assert entries, "the simulator did not log the request"
    return entries[-1]


Check = Callable[[CallRecord, SimRequestLog], None]


async def timed_call(
    url: str, check: Check | None = None, **request: Any
) -> tuple[CallRecord, SimRequestLog]:
    """A call whose timings pass ``check`` (default :func:`assert_timings_match`), re-measured
    up to ``TIMING_TRIES`` times (see the module docstring)."""
    check = check or assert_timings_match
    failure: AssertionError | None = None
    for _ in range(TIMING_TRIES):
        record = await call(url, **request)
        assert record.ok, record.error
        entry = last_log(url, record)
        try:
            check(record, entry)
        except AssertionError as exc:
            failure = exc
            continue
        return record, entry
    assert failure is not None
    raise failure


def assert_timings_match(
    record: CallRecord, entry: SimRequestLog, speed_factor: float = 1.0
) -> None:
    """Each token-carrying event arrived within ARRIVAL_TOL_S after the simulator sent it, so the
    measured speed is within ARRIVAL_TOL_S / duration of the true one: 1% for streams of 1 s or
    more (shorter streams get the looser bound that follows from the arrival tolerance)."""
    sent = entry.token_chunks
    got = [e for e in record.events if e.tokens]
    assert [(e.answer_tokens, e.reasoning_tokens) for e in got] == [
        (c.answer_tokens, c.reasoning_tokens) for c in sent
    ]
    for event, chunk in zip(got, sent, strict=True):
        lag = record.send_perf + event.t_s - chunk.perf
        assert -0.001 <= lag <= ARRIVAL_TOL_S
    assert record.ttft_s is not None and entry.first_token_s is not None
    # The client's TTFT also includes sending the request: never shorter than the server's.
    assert record.ttft_s >= entry.first_token_s
    assert record.ttft_s == pytest.approx(sent[0].perf - record.send_perf, abs=ARRIVAL_TOL_S)
    first_answer = next((c for c in sent if c.answer_tokens), None)
    if first_answer is not None:
        assert record.ttfat_s is not None
        assert record.ttfat_s == pytest.approx(
            first_answer.perf - record.send_perf, abs=ARRIVAL_TOL_S
        )
    speed, true_speed = record.output_speed_tps, entry.output_speed_tps
    assert speed is not None and true_speed is not None
    assert speed == pytest.approx(true_speed * speed_factor, rel=speed_tolerance(entry))


def speed_tolerance(entry: SimRequestLog) -> float:
    sent = entry.token_chunks
    return max(SPEED_REL_TOL, ARRIVAL_TOL_S / (sent[-1].t_s - sent[0].t_s))


async def test_ttft_and_speed_match_the_simulator_log(sim: Sim) -> None:
    url = sim.set(ttft_s=0.2, itl_s=0.02, tokens_per_chunk=1)
    record, entry = await timed_call(url, max_tokens=101)  # 2 s of tokens: speed within 1%
    assert speed_tolerance(entry) == SPEED_REL_TOL
    assert record.ttfat_s == record.ttft_s
    assert record.answer == ANSWER_WORD * 101
    assert record.output_tokens == 101
    assert record.usage is not None and record.usage.completion_tokens == 101
    assert record.finish_reason == "length"
    assert record.attempts == 1
    # The role chunk came at once and carries no token: first byte is well before first token.
    assert record.first_byte_s is not None and record.ttft_s is not None
    assert record.first_byte_s < record.ttft_s
    assert record.e2e_s is not None and record.last_token_s is not None
    assert record.e2e_s >= record.last_token_s
    assert record.prompt_tokens_o200k == 3  # "Say hello."


async def test_several_tokens_per_chunk_without_usage(sim: Sim) -> None:
    url = sim.set(ttft_s=0.05, itl_s=0.03, tokens_per_chunk=4, output_tokens=82)
    record, entry = await timed_call(url, max_tokens=200, include_usage=False)
    assert not entry.include_usage
    assert record.usage is None
    assert [e.answer_tokens for e in record.events if e.tokens] == [4] * 20 + [2]
    assert record.answer_tokens_o200k == 82
    assert record.output_tokens == 82  # o200k fallback
    assert record.finish_reason == "stop"
    # Tokens, not chunks: 78 tokens after the first chunk over 20 intervals.
    carrying = [e for e in record.events if e.tokens]
    duration = carrying[-1].t_s - carrying[0].t_s
    assert record.output_speed_tps == pytest.approx(78 / duration, rel=1e-9)


async def test_usage_from_a_different_tokenizer_scales_speed(sim: Sim) -> None:
    url = sim.set(ttft_s=0.05, itl_s=0.02, tokens_per_chunk=2, usage_token_factor=1.5)

    def check(record: CallRecord, entry: SimRequestLog) -> None:
        # (60 - 60 * 2/40) tokens after the first chunk, versus 38 o200k tokens in the log.
        assert_timings_match(record, entry, speed_factor=1.5)

    record, _ = await timed_call(url, check, max_tokens=40)
    assert record.usage is not None
    assert record.usage.completion_tokens == 60
    assert record.answer_tokens_o200k == 40
    assert record.output_tokens == 60


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning", "think"])
async def test_reasoning_first_in_each_form(sim: Sim, field: str) -> None:
    url = sim.set(
        ttft_s=0.1, itl_s=0.02, tokens_per_chunk=3, reasoning_tokens=12, reasoning_field=field
    )
    record, _ = await timed_call(url, max_tokens=32)
    assert record.reasoning == REASONING_WORD * 12
    assert record.answer == ANSWER_WORD * 20
    assert record.reasoning_source == ("think_tags" if field == "think" else field)
    assert (record.reasoning_tokens_o200k, record.answer_tokens_o200k) == (12, 20)
    assert record.usage is not None and record.usage.reasoning_tokens == 12
    assert record.output_tokens == 32
    # TTFT and TTFAT each match the simulator's chunk (checked in assert_timings_match).
    assert record.ttft_s is not None and record.ttfat_s is not None
    assert record.ttfat_s > record.ttft_s + 3 * 0.02 * 0.9  # four reasoning chunks came first


async def test_unclosed_think_is_no_answer(sim: Sim) -> None:
    url = sim.set(ttft_s=0.01, itl_s=0.001, reasoning_tokens=50, reasoning_field="think")
    record = await call(url, max_tokens=10)
    assert record.ok, record.error
    assert record.think_unclosed
    assert not record.has_answer
    assert record.ttfat_s is None
    assert record.reasoning == REASONING_WORD * 10
    assert record.finish_reason == "length"


async def test_hidden_reasoning_counts_only_visible_tokens_for_speed(sim: Sim) -> None:
    url = sim.set(
        ttft_s=0.05, itl_s=0.02, reasoning_tokens=10, reasoning_field="hidden", output_tokens=30
    )
    record, _ = await timed_call(url, max_tokens=100)
    assert record.reasoning == ""
    assert record.reasoning_hidden
    assert record.output_tokens == 40
    assert record.visible_output_tokens == 30


async def test_non_streaming(sim: Sim) -> None:
    url = sim.set(ttft_s=0.05, itl_s=0.005, reasoning_tokens=5, output_tokens=20)

    def check(record: CallRecord, entry: SimRequestLog) -> None:
        assert record.ttft_s is not None
        lag = record.send_perf + record.ttft_s - entry.token_chunks[0].perf
        assert -0.001 <= lag <= ARRIVAL_TOL_S

    record, entry = await timed_call(url, check, max_tokens=100, stream=False)
    assert not entry.stream
    assert record.ttft_s == record.e2e_s == record.ttfat_s
    assert record.answer == ANSWER_WORD * 20
    assert record.reasoning == REASONING_WORD * 5
    assert record.output_tokens == 25
    assert record.output_speed_tps is None
    assert record.finish_reason == "stop"


# --- faults and retries -----------------------------------------------------------------------


async def test_rate_limit_retry_after_is_honoured(sim: Sim) -> None:
    url = sim.set(
        ttft_s=0.01, itl_s=0.001, faults=[{"kind": "rate_limit", "first": 2, "retry_after_s": 0.3}]
    )
    record = await call(url, max_tokens=5, options=FAST_RETRY)
    assert record.ok, record.error
    assert record.attempts == 3
    assert [e.kind for e in record.attempt_errors] == [ErrorKind.RATE_LIMITED] * 2
    assert all(e.retry_after_s == 0.3 and e.status == 429 for e in record.attempt_errors)
    assert record.retry_wait_s >= 0.6
    log = fetch_log(url)
    assert [e.status for e in log] == [429, 429, 200]
    assert log[1].recv_perf - log[0].recv_perf >= 0.3
    assert log[2].recv_perf - log[1].recv_perf >= 0.3


async def test_rate_limit_gives_up_after_max_attempts(sim: Sim) -> None:
    url = sim.set(faults=[{"kind": "rate_limit", "every": 1, "retry_after_s": 0}])
    options = FAST_RETRY.model_copy(update={"max_attempts": 3})
    record = await call(url, max_tokens=5, options=options)
    assert record.error is not None
    assert record.error.kind is ErrorKind.RATE_LIMITED
    assert record.error.retry_after_s == 0
    assert record.attempts == 3
    assert len(fetch_log(url)) == 3


@pytest.mark.parametrize("status", [500, 503])
async def test_server_error_is_retried(sim: Sim, status: int) -> None:
    url = sim.set(
        ttft_s=0.01, itl_s=0.001, faults=[{"kind": "server_error", "first": 1, "status": status}]
    )
    record = await call(url, max_tokens=5, options=FAST_RETRY)
    assert record.ok, record.error
    assert record.attempts == 2
    assert record.attempt_errors[0].kind is ErrorKind.SERVER_ERROR
    assert record.attempt_errors[0].status == status


async def test_server_error_without_retries(sim: Sim) -> None:
    url = sim.set(faults=[{"kind": "server_error", "every": 1, "status": 503}])
    record = await call(url, max_tokens=5, options=ClientOptions(max_attempts=1))
    assert record.error is not None
    assert (record.error.kind, record.error.status, record.attempts) == (
        ErrorKind.SERVER_ERROR,
        503,
        1,
    )


async def test_client_error_is_not_retried(sim: Sim) -> None:
    url = sim.set(faults=[{"kind": "server_error", "every": 1, "status": 422}])
    record = await call(url, max_tokens=5, options=FAST_RETRY)
    assert record.error is not None
    assert (record.error.kind, record.error.status, record.attempts) == (
        ErrorKind.CLIENT_ERROR,
        422,
        1,
    )
    assert record.error.body_snippet is not None and "simulated" in record.error.body_snippet


@pytest.mark.parametrize("stream", [True, False])
async def test_dropped_connection(sim: Sim, stream: bool) -> None:
    url = sim.set(
        ttft_s=0.01, itl_s=0.005, faults=[{"kind": "drop", "every": 1, "after_chunks": 3}]
    )
    options = ClientOptions(max_attempts=2, backoff_base_s=0.01)
    record = await call(url, max_tokens=20, stream=stream, options=options)
    assert record.error is not None
    assert record.error.kind is ErrorKind.CONNECTION_DROPPED
    assert record.attempts == 2
    assert [e.kind for e in record.attempt_errors] == [ErrorKind.CONNECTION_DROPPED]
    if stream:
        assert record.answer == ANSWER_WORD * 3  # what arrived before the drop is kept


@pytest.mark.parametrize("stream", [True, False])
async def test_malformed_response_is_not_retried(sim: Sim, stream: bool) -> None:
    url = sim.set(
        ttft_s=0.01, itl_s=0.001, faults=[{"kind": "malformed", "every": 1, "after_chunks": 2}]
    )
    record = await call(url, max_tokens=10, stream=stream, options=FAST_RETRY)
    assert record.error is not None
    assert record.error.kind is ErrorKind.MALFORMED_RESPONSE
    assert record.attempts == 1


async def test_idle_timeout(sim: Sim) -> None:
    url = sim.set(ttft_s=2.0, role_chunk=False)
    options = ClientOptions(max_attempts=1, idle_timeout_s=0.3)
    record = await call(url, max_tokens=5, options=options)
    assert record.error is not None
    assert record.error.kind is ErrorKind.TIMEOUT


async def test_fault_rate_is_seeded(sim: Sim) -> None:
    url = sim.set(ttft_s=0, itl_s=0, faults=[{"kind": "server_error", "rate": 0.5}], seed=7)
    options = ClientOptions(max_attempts=1)
    first = [(await call(url, max_tokens=1, options=options)).ok for _ in range(12)]
    sim.set(ttft_s=0, itl_s=0, faults=[{"kind": "server_error", "rate": 0.5}], seed=7)
    again = [(await call(url, max_tokens=1, options=options)).ok for _ in range(12)]
    assert first == again
    assert 0 < sum(first) < 12


async def test_stream_options_rejected_then_remembered(sim: Sim) -> None:
    url = sim.set(ttft_s=0.01, itl_s=0.001, reject_stream_options=True)
    spec = EndpointSpec(base_url=url, model="sim")
    async with EndpointClient(spec, ClientOptions(max_attempts=1)) as client:
        first = await client.chat(ChatRequest(messages=[user_message("hi")], max_tokens=5))
        second = await client.chat(ChatRequest(messages=[user_message("hi")], max_tokens=5))
    assert first.ok and second.ok, (first.error, second.error)
    assert first.attempts == 2
    assert first.attempt_errors[0].status == 400
    assert client.stream_options_rejected
    assert second.attempts == 1
    assert first.usage is None and first.output_tokens == 5


# --- endpoint down, keys, images, concurrency ----------------------------------------------------


async def test_connection_refused_names_the_url(free_port_url: str) -> None:
    record = await call(free_port_url, max_tokens=5, options=FAST_RETRY)
    assert record.error is not None
    assert record.error.kind is ErrorKind.CONNECT_FAILED
    assert record.attempts == 1  # refused is not retried by default
    with pytest.raises(EndpointCallError) as info:
        record.raise_for_error()
    assert isinstance(info.value, UserError)
    assert free_port_url in info.value.message
    assert "connection refused" in info.value.message


def test_missing_key_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MA_TEST_KEY_UNSET", raising=False)
    spec = EndpointSpec(
        base_url="http://127.0.0.1:1/v1", model="m", api_key_env="MA_TEST_KEY_UNSET"
    )
    with pytest.raises(UserError, match="MA_TEST_KEY_UNSET"):
        EndpointClient(spec)


async def test_key_is_sent_but_never_recorded(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-very-secret-1234"
    url = sim.set(ttft_s=0.01, itl_s=0.001, api_key=secret)
    monkeypatch.setenv("MA_TEST_KEY", secret)
    spec = EndpointSpec(base_url=url, model="sim", api_key_env="MA_TEST_KEY")
    good = await call(url, spec=spec, max_tokens=5)
    assert good.ok, good.error
    # A wrong key: the server echoes it in its 401, the record must not.
    wrong = "sk-wrong-key-5678"
    monkeypatch.setenv("MA_TEST_KEY", wrong)
    client = EndpointClient(spec)
    assert wrong not in repr(client)
    bad = await call(url, spec=spec, max_tokens=5)
    assert bad.error is not None
    assert bad.error.kind is ErrorKind.CLIENT_ERROR and bad.error.status == 401
    for record, key in ((good, secret), (bad, wrong)):
        dumped = record.model_dump_json()
        assert key not in dumped
        assert key not in repr(record)
    assert "***" in bad.error.message
    with pytest.raises(EndpointCallError) as info:
        bad.raise_for_error()
    assert wrong not in str(info.value)


async def test_image_content_parts(sim: Sim, png_bytes: bytes, tmp_path: Path) -> None:
    path = tmp_path / "pic.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 16)
    message = user_message("Describe these.", images=[png_bytes, path])
    assert message["role"] == "user"
    text, png, jpg = message["content"]
    assert text == {"type": "text", "text": "Describe these."}
    assert png["type"] == "image_url"
    prefix = "data:image/png;base64,"
    assert png["image_url"]["url"].startswith(prefix)
    assert base64.b64decode(png["image_url"]["url"][len(prefix) :]) == png_bytes
    assert jpg["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert image_part(png_bytes, detail="low")["image_url"]["detail"] == "low"
    with pytest.raises(UserError, match="image type"):
        image_part(b"not an image")
    url = sim.set(ttft_s=0.01, itl_s=0.001)
    record = await call(url, messages=[message], max_tokens=3)
    assert record.ok, record.error
    assert record.prompt_tokens_o200k == 3  # text parts only


async def test_many_concurrent_streams(sim: Sim) -> None:
    url = sim.set(ttft_s=0.05, itl_s=0.01, tokens_per_chunk=2)
    spec = EndpointSpec(base_url=url, model="sim")
    async with EndpointClient(spec, ClientOptions(connection_limit=64, max_attempts=1)) as client:
        request = ChatRequest(messages=[user_message("hi")], max_tokens=20)
        records = await asyncio.gather(*(client.chat(request) for _ in range(64)))
    assert all(r.ok for r in records), [r.error for r in records if r.error][:3]
    assert all(r.output_tokens == 20 for r in records)
    ids = {r.request_id for r in records}
    assert len(ids) == 64
    assert ids <= {e.request_id for e in fetch_log(url)}


async def test_chat_raw_defers_parsing(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-raw-secret-42"
    url = sim.set(ttft_s=0.05, itl_s=0.02, tokens_per_chunk=2, api_key=secret)
    monkeypatch.setenv("MA_TEST_KEY", secret)
    spec = EndpointSpec(base_url=url, model="sim", api_key_env="MA_TEST_KEY")
    async with EndpointClient(spec, ClientOptions(max_attempts=1)) as client:
        request = ChatRequest(messages=[user_message("hi")], max_tokens=40)
        raws = await asyncio.gather(*(client.chat_raw(request) for _ in range(16)))
    assert all(secret not in repr(raw) for raw in raws)
    records = [raw.record() for raw in raws]
    log = {e.request_id: e for e in fetch_log(url)}
    lags: list[float] = []
    for record in records:
        assert record.ok, record.error
        assert record.output_tokens == 40
        assert record.prompt_tokens_o200k == 1
        got = [e for e in record.events if e.tokens]
        sent = log[record.request_id].token_chunks
        assert [e.answer_tokens for e in got] == [c.answer_tokens for c in sent]
        lags += [record.send_perf + e.t_s - c.perf for e, c in zip(got, sent, strict=True)]
    # 16 streams on one loop: typical arrivals stay within a few ms of the send, and none is
    # grossly late (a single descheduling on a loaded machine is tolerated).
    lags.sort()
    assert lags[0] >= -0.001
    assert lags[len(lags) // 2] <= 0.005
    assert lags[-1] <= 0.1


async def test_connect_failure_is_retried_once_the_endpoint_was_reached() -> None:
    from modelatlas.endpoints.sim import SimConfig, running_sim

    options = FAST_RETRY.model_copy(update={"max_attempts": 3})
    with running_sim(SimConfig(ttft_s=0, itl_s=0), mode="thread") as url:
        client = EndpointClient(EndpointSpec(base_url=url, model="sim"), options)
        request = ChatRequest(messages=[user_message("hi")], max_tokens=2)
        first = await client.chat(request)
    try:
        second = await client.chat(request)  # the server is gone now
    finally:
        await client.close()
    assert first.ok, first.error
    assert second.error is not None
    assert second.error.kind is ErrorKind.CONNECT_FAILED
    assert second.attempts == 3
