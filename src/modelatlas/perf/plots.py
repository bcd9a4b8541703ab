"""Plots as self-contained SVG files (no plotting dependency), plus one HTML page holding them.

- Latency distributions: empirical CDFs of TTFT, TTFAT, end-to-end latency, inter-token latency
  and output speed over the measured requests.
- Sweeps and SLO searches: output throughput vs load, and p50/p99 TTFT and p50 end-to-end
  latency vs load.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelatlas.perf.metrics import RequestMetrics

W, H = 640, 400
ML, MR, MT, MB = 70, 20, 40, 50
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = math.floor(lo / step) * step
    ticks: list[float] = []
    t = start
    while t <= hi + step * 1e-9:
        if t >= lo - step * 1e-9:
            ticks.append(round(t, 12))
        t += step
    return ticks


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) >= 0.01 or v == 0 else f"{v:.1e}"


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    markers: bool = True,
    step: bool = False,
) -> str:
    """An SVG line chart of named (x, y) series."""
    points = [p for s in series.values() for p in s]
    if not points:
        points = [(0.0, 0.0), (1.0, 1.0)]

    def fx(v: float) -> float:
        return math.log10(v) if logx else v

    xs = [fx(x) for x, _ in points if not logx or x > 0]
    ys = [y for _, y in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(0.0, min(ys)), max(ys)
    if x1 <= x0:
        x1 = x0 + 1
    if y1 <= y0:
        y1 = y0 + 1
    y1 *= 1.05
    pw, ph = W - ML - MR, H - MT - MB

    def px(v: float) -> float:
        return ML + (fx(v) - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        return MT + ph - (v - y0) / (y1 - y0) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15">{html.escape(title)}</text>',
    ]
    if logx:
        xticks = [10**e for e in range(math.floor(x0), math.ceil(x1) + 1)]
        xticks = [t for t in xticks if x0 - 1e-9 <= math.log10(t) <= x1 + 1e-9]
        for base in sorted({x for x, _ in points if x > 0}):
            if base not in xticks and len(xticks) < 12:
                xticks.append(base)
    else:
        xticks = _nice_ticks(x0, x1)
    for t in sorted(set(xticks)):
        x = px(t)
        out.append(f'<line x1="{x:.1f}" y1="{MT}" x2="{x:.1f}" y2="{MT + ph}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{MT + ph + 16}" text-anchor="middle">{_fmt(t)}</text>')
    for t in _nice_ticks(y0, y1):
        y = py(t)
        out.append(f'<line x1="{ML}" y1="{y:.1f}" x2="{ML + pw}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{ML - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    out.append(f'<rect x="{ML}" y="{MT}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
    out.append(
        f'<text x="{ML + pw / 2}" y="{H - 12}" text-anchor="middle">{html.escape(xlabel)}</text>'
    )
    out.append(
        f'<text x="16" y="{MT + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {MT + ph / 2})">{html.escape(ylabel)}</text>'
    )
    for i, (name, pts) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        pts = [p for p in pts if not logx or p[0] > 0]
        if not pts:
            continue
        coords: list[str] = []
        prev_y: float | None = None
        for x, y in pts:
            if step and prev_y is not None:
                coords.append(f"{px(x):.1f},{py(prev_y):.1f}")
            coords.append(f"{px(x):.1f},{py(y):.1f}")
            prev_y = y
        out.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
            f'points="{" ".join(coords)}"/>'
        )
        if markers and len(pts) <= 40:
            out.extend(
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>' for x, y in pts
            )
        ly = MT + 14 + i * 16
        out.append(
            f'<rect x="{ML + pw - 170}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
        )
        out.append(f'<text x="{ML + pw - 155}" y="{ly}">{html.escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def cdf_chart(series: Mapping[str, Sequence[float]], *, title: str, xlabel: str) -> str:
    """Empirical CDFs (fraction of requests at or below x)."""
    curves: dict[str, list[tuple[float, float]]] = {}
    for name, values in series.items():
        xs = sorted(values)
        if xs:
            n = len(xs)
            curves[f"{name} (n={n})"] = [(x, (i + 1) / n) for i, x in enumerate(xs)]
    return line_chart(
        curves, title=title, xlabel=xlabel, ylabel="fraction of requests", markers=False, step=True
    )


def run_plots(requests: Sequence[RequestMetrics]) -> dict[str, str]:
    """Latency-distribution SVGs of one run's measured, successful requests."""
    ok = [r for r in requests if r.ok and not r.warmup]

    def vals(name: str) -> list[float]:
        return [float(v) for r in ok if (v := getattr(r, name)) is not None]

    return {
        "latency-cdf.svg": cdf_chart(
            {"TTFT": vals("ttft_s"), "TTFAT": vals("ttfat_s"), "end-to-end": vals("e2e_s")},
            title="Latency distribution",
            xlabel="seconds",
        ),
        "itl-cdf.svg": cdf_chart(
            {"inter-token latency": [x for r in ok for x in r.itl_s]},
            title="Inter-token latency distribution",
            xlabel="seconds per token",
        ),
        "speed-cdf.svg": cdf_chart(
            {"output speed": vals("output_speed_tps")},
            title="Output speed distribution",
            xlabel="tokens per second",
        ),
    }


def sweep_plots(levels: Sequence[Mapping[str, Any]], *, x_label: str) -> dict[str, str]:
    """Throughput and latency vs load from per-level summaries (``level`` key + summary)."""

    def series(path: tuple[str, str]) -> list[tuple[float, float]]:
        pts: list[tuple[float, float]] = []
        for s in levels:
            v = (s.get(path[0]) or {}).get(path[1])
            if v is not None:
                pts.append((float(s["level"]), float(v)))
        return pts

    logx = max((float(s["level"]) for s in levels), default=1) >= 16
    return {
        "throughput-vs-load.svg": line_chart(
            {"output tokens/s": series(("throughput", "output_tokens_per_s"))},
            title="Output throughput vs load",
            xlabel=x_label,
            ylabel="output tokens per second",
            logx=logx,
        ),
        "latency-vs-load.svg": line_chart(
            {
                "TTFT p50": series(("ttft_s", "p50")),
                "TTFT p99": series(("ttft_s", "p99")),
                "e2e p50": series(("e2e_s", "p50")),
            },
            title="Latency vs load",
            xlabel=x_label,
            ylabel="seconds",
            logx=logx,
        ),
        "speed-vs-load.svg": line_chart(
            {"output speed p50": series(("output_speed_tps", "p50"))},
            title="Per-request output speed vs load",
            xlabel=x_label,
            ylabel="tokens per second",
            logx=logx,
        ),
    }


def write_plots(directory: Path, svgs: Mapping[str, str], *, title: str) -> list[Path]:
    """Write each SVG and an ``index.html`` embedding them all; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name, svg in svgs.items():
        path = directory / name
        path.write_text(svg + "\n", encoding="utf-8")
        paths.append(path)
    body = "\n".join(
        f"<figure>{svg}<figcaption>{name}</figcaption></figure>" for name, svg in svgs.items()
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "</head><body style='font-family:sans-serif'>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )
    index = directory / "index.html"
    index.write_text(page, encoding="utf-8")
    paths.append(index)
    return paths
