"""HTML pages from the analysis views: one Jinja2 environment (autoescape on), shared by the
server and the static site builder.

Links are written as site paths (``/models/x/``); :meth:`Renderer.url` turns them into what the
page needs: the same path on the server, a relative ``.../index.html`` path in the static site
(so that it works from ``file://`` without a web server).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from modelatlas import __version__
from modelatlas.analysis import wording
from modelatlas.analysis.atlas import Atlas
from modelatlas.analysis.views import Chart
from modelatlas.web import charts


def _fmt(value: Any, kind: str = "num") -> str:
    if value is None:
        return "unknown"
    if kind == "price":
        return wording.fmt_price(float(value))
    if kind == "tokens":
        return wording.fmt_tokens(float(value))
    if kind == "seconds":
        return wording.fmt_seconds(float(value))
    if kind == "bool":
        return "yes" if value else "no"
    return wording.fmt_number(float(value))


def _chart_json(chart: Chart) -> Markup:
    # to_json escapes <, > and & so the JSON cannot end its <script type="application/json">.
    return Markup(charts.to_json(charts.figure(chart)))


class Renderer:
    """Renders the site's templates for the server (``static=False``) or the static site."""

    def __init__(self, *, static: bool) -> None:
        self.static = static
        self.env = Environment(
            loader=PackageLoader("modelatlas.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["fmt"] = _fmt
        self.env.globals["chart_json"] = _chart_json
        self.env.globals["version"] = __version__

    def url(self, target: str, current: str) -> str:
        """``target`` (a site path) as a link from the page at ``current``."""
        if not self.static:
            return target
        path, _, query = target.partition("?")
        if query:  # query pages do not exist in the static site
            path = path.rstrip("/") + "/"
        if path.endswith("/"):
            path += "index.html"
        base = posixpath.dirname(current if not current.endswith("/") else current + "x")
        return posixpath.relpath(path, base or "/")

    def render(self, template: str, current: str, **context: Any) -> str:
        def url(target: str) -> str:
            return self.url(target, current)

        def model_url(slug: str) -> str:
            return url(f"/models/{quote(slug, safe='')}/")

        helpers: dict[str, Callable[..., str] | bool] = {
            "url": url,
            "model_url": model_url,
            "static_site": self.static,
        }
        return self.env.get_template(template).render(**helpers, **context)


def filters_for(atlas: Atlas) -> dict[str, list[tuple[str, str]]]:
    """Choices of the leaderboard filters."""
    versions = sorted({v for e in atlas.entries.values() if (v := e.index_version()) is not None})
    modalities = sorted({m for e in atlas.entries.values() for m in e.model.input_modalities})
    return {
        "size_class": [
            ("tiny", "Tiny (<= 4B)"),
            ("small", "Small (4B-40B)"),
            ("medium", "Medium (40B-150B)"),
            ("large", "Large (> 150B)"),
        ],
        "price_tier": [("low", "< $0.15"), ("mid", "$0.15-$1"), ("high", "> $1")],
        "open_weights": [("true", "Open weights"), ("false", "Proprietary")],
        "reasoning": [("true", "Reasoning"), ("false", "Non-reasoning")],
        "modality": [(m, m) for m in modalities],
        "creator": list(atlas.creators().items()),
        "index_version": [(v, v) for v in versions],
    }
