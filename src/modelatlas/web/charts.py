"""Plotly figures (plain dicts) from the analysis layer's chart data, and their safe embedding.

Colours are the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies);
the model a page is about is vermillion, its peers blue, the class average a dashed black line.
A figure reaches the page as JSON inside ``<script type="application/json">``; :func:`to_json`
escapes ``<``, ``>`` and ``&`` so that no string in it can close the script element, and the
page's script reads it with ``JSON.parse`` (never as code).
"""

from __future__ import annotations

import json
from typing import Any

from modelatlas.analysis.views import Chart

OKABE_ITO = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#000000",  # black
)
HIGHLIGHT = "#D55E00"
PEER = "#0072B2"
SERIES = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")

_LAYOUT: dict[str, Any] = {
    "margin": {"l": 60, "r": 20, "t": 40, "b": 110},
    "height": 360,
    "paper_bgcolor": "#ffffff",
    "plot_bgcolor": "#ffffff",
    "font": {"family": "system-ui, sans-serif", "size": 12, "color": "#222"},
    "hoverlabel": {"namelength": -1},
    "showlegend": False,
}


def _short(label: str, limit: int = 28) -> str:
    """A label for an axis, shortened and escaped (Plotly reads labels as an HTML subset)."""
    text = label if len(label) <= limit else label[: limit - 1] + "\u2026"
    return _html_escape(text)


def _bar(chart: Chart) -> dict[str, Any]:
    if any(b.highlight for b in chart.bars):
        colors = [HIGHLIGHT if b.highlight else PEER for b in chart.bars]
    else:  # a comparison of equals: one colour per model
        colors = [SERIES[i % len(SERIES)] for i in range(len(chart.bars))]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": [_short(b.label) for b in chart.bars],
            "y": [b.value for b in chart.bars],
            "customdata": [[_html_escape(b.label), _html_escape(b.source)] for b in chart.bars],
            "hovertemplate": "%{customdata[0]}<br>%{y:,.4~g} "
            + chart.unit
            + "<br>%{customdata[1]}<extra></extra>",
            "marker": {"color": colors},
        }
    ]
    shapes = []
    if chart.average is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": chart.average,
                "y1": chart.average,
                "line": {"color": "#000000", "dash": "dash", "width": 1.5},
            }
        )
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": [None],
                "y": [None],
                "name": _html_escape(chart.average_label or "class average"),
                "line": {"color": "#000000", "dash": "dash"},
                "hoverinfo": "skip",
            }
        )
    layout = {
        **_LAYOUT,
        "shapes": shapes,
        "xaxis": {"tickangle": -35, "automargin": True},
        "yaxis": {"title": {"text": chart.y_title}, "rangemode": "tozero"},
    }
    if chart.average is not None:
        layout["annotations"] = [
            {
                "xref": "paper",
                "x": 1,
                "y": chart.average,
                "xanchor": "right",
                "yanchor": "bottom",
                "text": _html_escape(f"{chart.average_label}: {_compact(chart.average)}"),
                "showarrow": False,
                "font": {"size": 11},
            }
        ]
    return {"data": data, "layout": layout}


def _grouped(chart: Chart, *, stacked: bool) -> dict[str, Any]:
    highlighted = {b.label for b in chart.bars if b.highlight}
    data = []
    for i, series in enumerate(chart.series):
        data.append(
            {
                "type": "bar",
                "name": _html_escape(series.name),
                "x": [_short(str(x)) for x in series.x],
                "y": series.y,
                "customdata": [_html_escape(str(x)) for x in series.x],
                "hovertemplate": "%{customdata}<br>"
                + _html_escape(series.name)
                + ": %{y:,.4~g} "
                + chart.unit
                + "<extra></extra>",
                "marker": {"color": SERIES[i % len(SERIES)]},
            }
        )
    ticks = [
        f"<b>{_short(str(x))}</b>" if str(x) in highlighted else _short(str(x))
        for x in (chart.series[0].x if chart.series else [])
    ]
    layout = {
        **_LAYOUT,
        "barmode": "stack" if stacked else "group",
        "showlegend": True,
        "legend": {"orientation": "h", "y": 1.12, "traceorder": "normal"},
        "xaxis": {
            "tickangle": -35,
            "automargin": True,
            "tickvals": [_short(str(x)) for x in (chart.series[0].x if chart.series else [])],
            "ticktext": ticks,
        },
        "yaxis": {"title": {"text": chart.y_title}, "rangemode": "tozero"},
    }
    return {"data": data, "layout": layout}


def _scatter(chart: Chart) -> dict[str, Any]:
    peers = [p for p in chart.points if not p.highlight]
    own = [p for p in chart.points if p.highlight]
    data = []
    for points, color, name, size in (
        (peers, PEER, "comparable models", 9),
        (own, HIGHLIGHT, "this model", 14),
    ):
        if not points:
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": name,
                "x": [p.x for p in points],
                "y": [p.y for p in points],
                "customdata": [_html_escape(p.label) for p in points],
                "hovertemplate": "%{customdata}<br>x: %{x:,.4~g}<br>y: %{y:,.4~g}<extra></extra>",
                "marker": {"color": color, "size": size, "line": {"color": "#000", "width": 0.5}},
            }
        )
    layout = {
        **_LAYOUT,
        "showlegend": True,
        "legend": {"orientation": "h", "y": 1.12},
        "margin": {"l": 60, "r": 20, "t": 40, "b": 60},
        "xaxis": {"title": {"text": chart.x_title}, "type": "log" if chart.log_x else "linear"},
        "yaxis": {"title": {"text": chart.y_title}},
    }
    return {"data": data, "layout": layout}


def _line(chart: Chart) -> dict[str, Any]:
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": _html_escape(s.name),
            "x": s.x,
            "y": s.y,
            "line": {"color": SERIES[i % len(SERIES)]},
        }
        for i, s in enumerate(chart.series)
    ]
    layout = {
        **_LAYOUT,
        "showlegend": True,
        "legend": {"orientation": "h", "y": 1.12},
        "margin": {"l": 60, "r": 20, "t": 40, "b": 60},
        "xaxis": {"type": "date"},
        "yaxis": {"title": {"text": chart.y_title}, "rangemode": "tozero"},
    }
    return {"data": data, "layout": layout}


def _compact(value: float) -> str:
    """176,128 -> "176k", 6.0625 -> "6.06", 4.4e9 -> "4.4B"."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _html_escape(text: str) -> str:
    """Plotly renders tick text as a small HTML subset: escape what it would interpret."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def figure(chart: Chart) -> dict[str, Any]:
    """The Plotly figure (``data`` and ``layout``) for ``chart``."""
    if chart.kind == "bar":
        return _bar(chart)
    if chart.kind in ("grouped", "stacked"):
        return _grouped(chart, stacked=chart.kind == "stacked")
    if chart.kind == "scatter":
        return _scatter(chart)
    return _line(chart)


def to_json(value: Any) -> str:
    """JSON safe to place inside a ``<script type="application/json">`` element."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
