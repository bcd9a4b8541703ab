"""Metric definitions on hand-made call records (no server)."""

from __future__ import annotations

import datetime as dt

import pytest

from modelatlas.endpoints.records import CallError, CallRecord, ErrorKind, ServerUsage, StreamEvent
from modelatlas.perf.metrics import (
    e2e_response_time,
    percentile,
    request_metrics,
    slo_holds,
    summarize,
)


def record(
    events: list[tuple[float, int, int]],
    *,
    end: float,
    usage: ServerUsage | None = None,
    finish: str | None = "length",
    error: CallError | None = None,
    send: float = 100.0,
) -> CallRecord:
    evs = [StreamEvent(t_s=t, answer_tokens=a, reasoning_tokens=r) for t, a, r in events]
    carrying = [e for e in evs if e.tokens]
    first_answer = next((e.t_s for e in carrying if e.answer_tokens), None)
    return CallRecord(
        request_id=f"r{send}",
        base_url="http://x/v1",
        model="m",
        stream=True,
        started_at=dt.datetime.now(dt.UTC),
        send_perf=send,
        first_token_s=carrying[0].t_s if carrying else None,
        first_answer_s=first_answer,
        last_token_s=carrying[-1].t_s if carrying else None,
        end_s=end,
        events=evs,
        answer="x" * sum(a for _, a, _ in events),
        reasoning="y" * sum(r for _, _, r in events),
        usage=usage,
        finish_reason=finish,
        answer_tokens_o200k=sum(a for _, a, _ in events),
        reasoning_tokens_o200k=sum(r for _, _, r in events),
        prompt_tokens_o200k=1000,
        error=error,
    )


def test_percentile_is_numpy_linear() -> None:
    xs = [15.0, 20.0, 35.0, 40.0, 50.0]
    # numpy.percentile(xs, q) with the default 'linear' method
    assert percentile(xs, 0) == 15.0
    assert percentile(xs, 50) == 35.0
    assert percentile(xs, 90) == pytest.approx(46.0)
    assert percentile(xs, 99) == pytest.approx(49.6)
    assert percentile([3.0], 99) == 3.0
    assert percentile([2.0, 1.0], 25) == pytest.approx(1.25)
    with pytest.raises(ValueError):
        percentile([], 50)


def test_e2e_500_matches_the_reference_example() -> None:
    assert round(e2e_response_time(7.4, 296.47) or 0, 2) == 9.09
    # reasoning tokens are thinking time at output speed
    assert e2e_response_time(1.0, 100.0, reasoning_tokens=200) == pytest.approx(8.0)
    assert e2e_response_time(None, 100.0) is None
    assert e2e_response_time(1.0, 0.0) is None


def test_request_metrics_reasoning_first_several_tokens_per_chunk() -> None:
    # 2 reasoning chunks of 3 tokens, then 4 answer chunks of 3 tokens, 0.1 s apart.
    events = [(0.0, 0, 0)] + [
        (0.5 + 0.1 * j, 0 if j < 2 else 3, 3 if j < 2 else 0) for j in range(6)
    ]
    rec = record(events, end=1.05, usage=ServerUsage(completion_tokens=18, reasoning_tokens=6))
    m = request_metrics(rec, index=0, scheduled_perf=99.999, requested_output_tokens=18)
    assert m.ttft_s == 0.5
    assert m.ttfat_s == pytest.approx(0.7)
    assert m.output_tokens == 18
    assert m.output_speed_tps == pytest.approx(15 / 0.5)
    assert m.tpot_s == pytest.approx((1.05 - 0.5) / 17)
    assert m.tpot_incl_first_s == pytest.approx(1.05 / 18)
    assert m.itl_s == pytest.approx([0.1 / 3] * 15)
    assert m.reasoning_tokens == 6
    assert m.e2e_500_s == pytest.approx(0.5 + 506 / 30)
    assert m.send_lag_s == pytest.approx(0.001)
    assert not m.stopped_early
    assert m.chunks == 6


def test_stopped_early_and_errors() -> None:
    rec = record([(0.1, 2, 0), (0.2, 2, 0)], end=0.3, finish="stop")
    m = request_metrics(rec, index=0, scheduled_perf=100.0, requested_output_tokens=300)
    assert m.stopped_early
    failed = record(
        [], end=0.01, finish=None, error=CallError(kind=ErrorKind.SERVER_ERROR, message="boom")
    )
    f = request_metrics(failed, index=1, scheduled_perf=100.0, requested_output_tokens=300)
    assert f.error == "server_error" and f.ttft_s is None and f.output_speed_tps is None


def test_summary_excludes_warmup_and_counts_errors() -> None:
    ok = [
        request_metrics(
            record([(0.1 * i + 0.1, 5, 0), (0.1 * i + 0.6, 5, 0)], end=0.1 * i + 0.7, send=100 + i),
            index=i,
            scheduled_perf=100 + i,
            warmup=i == 0,
        )
        for i in range(5)
    ]
    bad = request_metrics(
        record([], end=0.01, error=CallError(kind=ErrorKind.TIMEOUT, message="t"), send=106),
        index=5,
        scheduled_perf=106,
    )
    s = summarize([*ok, bad], slos=[("ttft_s", "p50", "<=", 0.35)])
    assert s["count"] == 5 and s["warmup_excluded"] == 1
    assert s["errors"] == 1 and s["errors_by_kind"] == {"timeout": 1}
    assert s["ttft_s"]["n"] == 4
    assert s["ttft_s"]["p50"] == pytest.approx(0.35)
    assert s["output_speed_tps"]["p50"] == pytest.approx(10.0)
    assert s["goodput"]["good_requests"] == 2  # ttft 0.2 and 0.3
    assert s["rate"]["achieved_rps"] == pytest.approx(4 / 5)  # sends at 101..104 and 106
    assert s["e2e_500_reference_s"] == pytest.approx(0.35 + 500 / 10)
    assert not slo_holds(s, [("ttft_s", "p99", "<=", 1.0)], max_error_rate=0.05)
    assert slo_holds(s, [("ttft_s", "p99", "<=", 1.0)], max_error_rate=0.25)
