"""The static site: the server's pages as files that work offline, from ``file://`` too.

Layout (every page a folder with an ``index.html``, links relative)::

    index.html                       leaderboard (filters and sorting in the browser)
    models/<slug>/index.html         model page
    models/<slug>/providers/         provider view
    compare/<slug>/index.html        the model and up to five comparable models
    creators/index.html, creators/<slug>/index.html
    csv/...                          every table as CSV
    api/v1/models.json, api/v1/models/<slug>.json, api/v1/creators/<slug>.json
    static/                          app.css, app.js and plotly.min.js (no CDN)

Comparing an arbitrary set of models needs the server (``modelatlas serve``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelatlas.analysis import views
from modelatlas.analysis.atlas import Atlas, load_atlas
from modelatlas.catalog.repository import Catalog
from modelatlas.errors import UserError
from modelatlas.store.base import Store
from modelatlas.web import pages
from modelatlas.web.app import plotly_js_path, static_dir
from modelatlas.web.render import Renderer


@dataclass(frozen=True)
class SiteReport:
    out: Path
    models: int
    files: int
    bytes: int
    seconds: float


class _Writer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = 0
        self.bytes = 0

    def write(self, site_path: str, text: str) -> None:
        """Write ``text`` at ``site_path`` (``/models/x/`` means ``models/x/index.html``)."""
        relative = site_path.lstrip("/")
        if not relative or relative.endswith("/"):
            relative += "index.html"
        target = (self.root / relative).resolve()
        if self.root not in target.parents:
            raise UserError(f"Refusing to write outside the site folder: {site_path}")
        target.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        target.write_bytes(data)
        self.files += 1
        self.bytes += len(data)


def build_site(
    out: Path,
    store: Store | None,
    *,
    catalog: Catalog | None = None,
    atlas: Atlas | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SiteReport:
    """Write every page of the site under ``out``; returns what was written."""
    started = time.perf_counter()
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder.")
    out.mkdir(parents=True, exist_ok=True)
    root = out.resolve()
    atlas = atlas or load_atlas(store, catalog)
    renderer = Renderer(static=True)
    writer = _Writer(root)

    static_out = root / "static"
    static_out.mkdir(exist_ok=True)
    for asset in static_dir().iterdir():
        if asset.is_file():
            shutil.copyfile(asset, static_out / asset.name)
    shutil.copyfile(plotly_js_path(), static_out / "plotly.min.js")

    rows = views.leaderboard(atlas)
    writer.write("/", pages.leaderboard_html(renderer, atlas, rows, {}, "/csv/leaderboard.csv"))
    writer.write("/csv/leaderboard.csv", pages.leaderboard_csv(rows))
    writer.write(
        "/api/v1/models.json",
        "[" + ",".join(r.model_dump_json() for r in rows) + "]",
    )
    writer.write("/creators/", pages.creators_html(renderer, atlas))
    for slug, _name, _count in pages.creators_list(atlas):
        creator = views.creator_page(atlas, slug)
        if creator is None:
            continue
        csv_path = f"/csv/creators/{slug}.csv"
        writer.write(f"/creators/{slug}/", pages.creator_html(renderer, atlas, creator, csv_path))
        writer.write(csv_path, pages.creator_csv(creator))
        writer.write(f"/api/v1/creators/{slug}.json", creator.model_dump_json())

    entries = atlas.all()
    for done, entry in enumerate(entries, start=1):
        page = views.model_page(atlas, entry)
        writer.write(f"/models/{entry.slug}/", pages.model_html(renderer, atlas, entry, page))
        writer.write(f"/api/v1/models/{entry.slug}.json", page.model_dump_json())
        for table in pages.MODEL_TABLES:
            writer.write(
                f"/csv/models/{entry.slug}/{table}.csv", pages.model_csv(page, table) or ""
            )
        provider = pages.provider_page(atlas, entry, store)
        writer.write(
            f"/models/{entry.slug}/providers/",
            pages.providers_html(
                renderer, atlas, provider, f"/csv/models/{entry.slug}/endpoints.csv"
            ),
        )
        compare = views.compare(atlas, pages.compare_slugs(atlas, entry))
        csv_path = f"/csv/compare/{entry.slug}.csv"
        writer.write(
            f"/compare/{entry.slug}/",
            pages.compare_html(renderer, atlas, compare, f"/compare/{entry.slug}/", csv_path),
        )
        writer.write(csv_path, pages.compare_csv(compare))
        if progress is not None:
            progress(done, len(entries))
    return SiteReport(
        out=root,
        models=len(entries),
        files=writer.files,
        bytes=writer.bytes,
        seconds=time.perf_counter() - started,
    )
