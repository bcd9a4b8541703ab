"""Per-request performance metrics and their summaries, each with its definition.

Every figure that shares a name with the reference site's follows its definition
(``docs/METHODOLOGY.md``); the definitions below are also printed with every report
(:data:`DEFINITIONS`).

Times are seconds from the moment the request was handed to the HTTP client (``send``);
``send_perf`` is that instant on the host's monotonic clock (``time.perf_counter``).

Percentiles use one convention everywhere: linear interpolation between closest ranks
(Hyndman and Fan type 7, numpy's default ``method="linear"``): for sorted values
``x[0..n-1]`` and ``q`` in [0, 1], ``h = (n - 1) q`` and
``P(q) = x[floor(h)] + (h - floor(h)) (x[floor(h) + 1] - x[floor(h)])``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from modelatlas.endpoints.records import CallRecord

PERCENTILE_CONVENTION = (
    "linear interpolation between closest ranks (Hyndman-Fan type 7, numpy 'linear'): "
    "h=(n-1)q, P=x[floor h]+(h-floor h)(x[floor h+1]-x[floor h])"
)
PERCENTILES: tuple[int, ...] = (50, 90, 95, 99)
E2E_ANSWER_TOKENS = 500
"""Answer length of the reference's "end-to-end response time for 500 tokens"."""

DEFINITIONS: dict[str, str] = {
    "ttft_s": "TTFT: seconds from send to the first chunk carrying any token (reasoning included)",
    "ttfat_s": "TTFAT: seconds from send to the first chunk carrying an answer (non-reasoning) "
    "token; equals TTFT without reasoning",
    "output_speed_tps": "output speed: tokens after the first token-carrying chunk / (last - "
    "first token-carrying chunk arrival); tokens (server usage, else o200k_base), not chunks; "
    "reasoning included",
    "e2e_s": "end-to-end latency: seconds from send until the response was fully read",
    "e2e_500_s": "end-to-end response time for 500 tokens (computed, as the reference): TTFT + "
    "reasoning tokens / output speed + 500 / output speed; the run figure uses median TTFT, "
    "mean reasoning tokens and median speed",
    "tpot_s": "TPOT (excluding the first token, vLLM convention): (e2e - TTFT) / "
    "(output tokens - 1)",
    "tpot_incl_first_s": "TPOT (including the first token): e2e / output tokens",
    "itl_s": "inter-token latency: for each token-carrying chunk after the first, the gap since "
    "the previous one divided by its tokens, counted once per token (pooled over requests)",
    "output_tokens": "output tokens: usage.completion_tokens when sent, else o200k_base count "
    "of answer + reasoning",
    "input_tokens_o200k": "input tokens: o200k_base count of the prompt text (no chat template, "
    "no images); usage.prompt_tokens is stored beside it",
    "send_lag_s": "send lag: actual send time - scheduled send time (open loop: the seeded "
    "schedule; closed loop: when a worker became free)",
    "throughput": "throughput: output tokens received (and requests completed) inside the "
    "steady-state window / its length; window = first measured send .. first response end "
    "after the last send (while the load is at its full level)",
    "percentiles": PERCENTILE_CONVENTION,
}

SUMMARY_METRICS: tuple[str, ...] = (
    "ttft_s",
    "ttfat_s",
    "output_speed_tps",
    "e2e_s",
    "e2e_500_s",
    "tpot_s",
    "tpot_incl_first_s",
    "output_tokens",
    "input_tokens_o200k",
    "send_lag_s",
)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` by linear interpolation (numpy default).

    Raises ``ValueError`` on an empty sequence.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    xs = sorted(values)
    h = (len(xs) - 1) * q / 100.0
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def e2e_response_time(
    ttft_s: float | None,
    output_speed_tps: float | None,
    *,
    reasoning_tokens: float = 0.0,
    answer_tokens: int = E2E_ANSWER_TOKENS,
) -> float | None:
    """The reference's end-to-end response time for ``answer_tokens`` answer tokens.

    ``TTFT + reasoning_tokens / speed + answer_tokens / speed``; computed, not measured.
    ``e2e_response_time(7.4, 296.47)`` is 9.086... (the reference's example, 9.09 s).
    """
    if ttft_s is None or not output_speed_tps or output_speed_tps <= 0:
        return None
    return ttft_s + (reasoning_tokens + answer_tokens) / output_speed_tps


class RequestMetrics(BaseModel):
    """One request's figures (see :data:`DEFINITIONS`)."""

    index: int
    request_id: str
    label: str | None = None
    warmup: bool = False
    level: float | None = None
    """The load level the request ran at (sweep/SLO: concurrency or rate)."""
    process: int = 0
    send_perf: float
    scheduled_perf: float
    send_lag_s: float
    ttft_s: float | None = None
    ttfat_s: float | None = None
    output_speed_tps: float | None = None
    e2e_s: float | None = None
    e2e_500_s: float | None = None
    tpot_s: float | None = None
    tpot_incl_first_s: float | None = None
    output_tokens: int | None = None
    output_tokens_usage: int | None = None
    output_tokens_o200k: int = 0
    reasoning_tokens: int = 0
    """usage.completion_tokens_details.reasoning_tokens when sent, else the o200k count."""
    input_tokens_o200k: int = 0
    input_tokens_usage: int | None = None
    requested_output_tokens: int | None = None
    stopped_early: bool = False
    """The server stopped before ``requested_output_tokens`` (finish_reason not ``length``)."""
    finish_reason: str | None = None
    chunks: int = 0
    """Token-carrying chunks received."""
    itl_s: list[float] = Field(default_factory=list, exclude=True)
    """Per-token inter-token latencies (see DEFINITIONS); kept in memory, not exported."""
    token_times: list[tuple[float, float]] = Field(default_factory=list, exclude=True)
    """(absolute perf arrival, output tokens in units of ``output_tokens``) per chunk."""
    error: str | None = None
    error_message: str | None = None
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def end_perf(self) -> float | None:
        return None if self.e2e_s is None else self.send_perf + self.e2e_s

    def json_row(self) -> dict[str, Any]:
        """The ``--json-out`` row: the documented keys first, then the rest."""
        row: dict[str, Any] = {
            "ttft_s": self.ttft_s,
            "ttfat_s": self.ttfat_s,
            "output_tokens": self.output_tokens,
            "output_speed_tps": self.output_speed_tps,
            "e2e_s": self.e2e_s,
            "error": self.error,
        }
        row.update(self.model_dump(exclude=set(row)))
        return row


def request_metrics(
    record: CallRecord,
    *,
    index: int,
    scheduled_perf: float,
    requested_output_tokens: int | None = None,
    label: str | None = None,
    warmup: bool = False,
    level: float | None = None,
    process: int = 0,
) -> RequestMetrics:
    """Derive one request's figures from the client's :class:`CallRecord`."""
    usage = record.usage
    out_usage = usage.completion_tokens if usage is not None else None
    carrying = [e for e in record.events if e.tokens > 0]
    ok = record.error is None
    output_tokens = record.output_tokens if ok or carrying else None
    if usage is not None and usage.reasoning_tokens is not None:
        reasoning = usage.reasoning_tokens
    else:
        reasoning = record.reasoning_tokens_o200k
    # Per-chunk token counts in the units of output_tokens (usage when sent, else o200k).
    total = sum(e.tokens for e in carrying)
    scale = record.visible_output_tokens / total if total else 0.0
    token_times = [(record.send_perf + e.t_s, e.tokens * scale) for e in carrying]
    itl: list[float] = []
    for prev, cur in itertools.pairwise(carrying):
        n = cur.tokens * scale
        if n > 0:
            per_token = (cur.t_s - prev.t_s) / n
            itl.extend([per_token] * max(round(n), 1))
    ttft, e2e = record.ttft_s, record.e2e_s
    tpot = tpot_incl = None
    if ok and ttft is not None and e2e is not None and output_tokens:
        tpot_incl = e2e / output_tokens
        if output_tokens > 1:
            tpot = (e2e - ttft) / (output_tokens - 1)
    speed = record.output_speed_tps if ok else None
    finish = record.finish_reason
    stopped_early = False
    if ok and requested_output_tokens:
        if finish is not None:
            stopped_early = finish != "length"
        elif output_tokens is not None:
            stopped_early = output_tokens < requested_output_tokens
    error = record.error
    return RequestMetrics(
        index=index,
        request_id=record.request_id,
        label=label,
        warmup=warmup,
        level=level,
        process=process,
        send_perf=record.send_perf,
        scheduled_perf=scheduled_perf,
        send_lag_s=record.send_perf - scheduled_perf,
        ttft_s=ttft,
        ttfat_s=record.ttfat_s,
        output_speed_tps=speed,
        e2e_s=e2e,
        e2e_500_s=e2e_response_time(ttft, speed, reasoning_tokens=reasoning) if ok else None,
        tpot_s=tpot,
        tpot_incl_first_s=tpot_incl,
        output_tokens=output_tokens,
        output_tokens_usage=out_usage,
        output_tokens_o200k=record.answer_tokens_o200k + record.reasoning_tokens_o200k,
        reasoning_tokens=reasoning,
        input_tokens_o200k=record.prompt_tokens_o200k,
        input_tokens_usage=usage.prompt_tokens if usage is not None else None,
        requested_output_tokens=requested_output_tokens,
        stopped_early=stopped_early,
        finish_reason=finish,
        chunks=len(carrying),
        itl_s=itl,
        token_times=token_times,
        error=error.kind.value if error is not None else None,
        error_message=error.message if error is not None else None,
        http_status=record.http_status,
    )


# --- summaries ------------------------------------------------------------------------------


def stats(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """n, mean, min, max and p50/p90/p95/p99 of the present values (None when there are none)."""
    xs = [float(v) for v in values if v is not None]
    out: dict[str, float | int | None] = {"n": len(xs)}
    if not xs:
        out.update({"mean": None, "min": None, "max": None})
        out.update({f"p{p}": None for p in PERCENTILES})
        return out
    out.update({"mean": sum(xs) / len(xs), "min": min(xs), "max": max(xs)})
    out.update({f"p{p}": percentile(xs, p) for p in PERCENTILES})
    return out


def steady_window(requests: Sequence[RequestMetrics]) -> tuple[float, float]:
    """(start, end) on the perf clock while the load is at its full level: from the first
    measured send until the first response that ends after the last send (from then on fewer
    requests are in flight); the last response's end when that is empty."""
    sends = [r.send_perf for r in requests]
    start, last_send = min(sends), max(sends)
    ends = [e for r in requests if (e := r.end_perf) is not None]
    after = [e for e in ends if e >= last_send]
    end = min(after) if after else last_send
    if end <= start:
        end = max(ends, default=start)
    return start, end


def throughput(requests: Sequence[RequestMetrics], window: tuple[float, float]) -> dict[str, Any]:
    """Output tokens and completed requests per second inside ``window``."""
    start, end = window
    span = end - start
    if span <= 0:
        return {"window_s": 0.0, "output_tokens_per_s": None, "requests_per_s": None}
    tokens = sum(n for r in requests for t, n in r.token_times if start <= t <= end)
    done = sum(1 for r in requests if r.ok and (e := r.end_perf) is not None and start <= e <= end)
    chunks = sum(1 for r in requests for t, _ in r.token_times if start <= t <= end)
    return {
        "window_s": span,
        "output_tokens_per_s": tokens / span,
        "requests_per_s": done / span,
        "chunks_per_s": chunks / span,
    }


SloSpec = tuple[str, str, str, float]
"""(metric, statistic, operator, threshold), e.g. ("ttft_s", "p99", "<=", 2.0)."""


def meets(value: float | None, op: str, threshold: float) -> bool:
    if value is None:
        return False
    return value <= threshold if op == "<=" else value >= threshold


def request_meets_slos(r: RequestMetrics, slos: Sequence[SloSpec]) -> bool:
    """A request is "good" when it succeeded and each SLO's metric, per request, holds."""
    return r.ok and all(meets(getattr(r, m), op, x) for m, _, op, x in slos)


def summarize(
    requests: Sequence[RequestMetrics],
    *,
    slos: Sequence[SloSpec] = (),
    requested_rate: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The run's summary: counts, errors, stats of each metric, throughput, rates, goodput.

    Warm-up requests are excluded; failed requests count in ``errors`` and not in latencies.
    """
    all_count = len(requests)
    measured = [r for r in requests if not r.warmup]
    ok = [r for r in measured if r.ok]
    errors_by_kind: dict[str, int] = {}
    for r in measured:
        if r.error is not None:
            errors_by_kind[r.error] = errors_by_kind.get(r.error, 0) + 1
    summary: dict[str, Any] = dict(extra or {})
    summary.update(
        {
            "count": len(measured),
            "warmup_excluded": all_count - len(measured),
            "errors": len(measured) - len(ok),
            "error_rate": (len(measured) - len(ok)) / len(measured) if measured else 0.0,
            "errors_by_kind": errors_by_kind,
            "stopped_early": sum(1 for r in ok if r.stopped_early),
        }
    )
    for name in SUMMARY_METRICS:
        source = measured if name == "send_lag_s" else ok
        summary[name] = stats(getattr(r, name) for r in source)
    summary["itl_s"] = stats(x for r in ok for x in r.itl_s)
    ttft50 = summary["ttft_s"]["p50"]
    ttfat50 = summary["ttfat_s"]["p50"]
    speed50 = summary["output_speed_tps"]["p50"]
    mean_reasoning = sum(r.reasoning_tokens for r in ok) / len(ok) if ok else 0.0
    summary["e2e_500_reference_s"] = e2e_response_time(
        ttft50, speed50, reasoning_tokens=mean_reasoning
    )
    summary["ttfat_500_reference_s"] = e2e_response_time(ttfat50, speed50)
    summary["mean_reasoning_tokens"] = mean_reasoning
    if measured:
        window = steady_window(measured)
        summary["throughput"] = throughput(measured, window)
        sends = sorted(r.send_perf for r in measured)
        achieved = (len(sends) - 1) / (sends[-1] - sends[0]) if sends[-1] > sends[0] else None
        summary["rate"] = {"requested_rps": requested_rate, "achieved_rps": achieved}
        if slos:
            good = [r for r in measured if request_meets_slos(r, slos)]
            span = summary["throughput"]["window_s"] or None
            done_in = [r for r in good if (e := r.end_perf) is not None and e <= window[1]]
            summary["goodput"] = {
                "slos": [f"{m}:{s}{op}{x:g}" for m, s, op, x in slos],
                "good_requests": len(good),
                "good_fraction": len(good) / len(measured),
                "requests_per_s": len(done_in) / span if span else None,
                "output_tokens_per_s": (
                    sum(n for r in good for t, n in r.token_times if window[0] <= t <= window[1])
                    / span
                    if span
                    else None
                ),
            }
    return summary


def slo_holds(summary: Mapping[str, Any], slos: Sequence[SloSpec], max_error_rate: float) -> bool:
    """Whether a run's summary meets every SLO (on the named statistic) and the error budget."""
    if summary.get("count", 0) == 0 or summary.get("error_rate", 1.0) > max_error_rate:
        return False
    for metric, stat, op, threshold in slos:
        value = summary.get(metric, {}).get(stat)
        if not meets(value, op, threshold):
            return False
    return True
