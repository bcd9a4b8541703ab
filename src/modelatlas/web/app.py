"""The web app (FastAPI): model pages, leaderboard, compare, providers, creators, JSON API, CSV.

Pages and API answer from an in-memory :class:`~modelatlas.analysis.atlas.Atlas`, rebuilt when
the store changes (checked at most every ``refresh_seconds``). Nothing here starts work except
``POST /api/v1/reload``, which needs ``Authorization: Bearer $MODELATLAS_API_TOKEN`` (and is
disabled when that variable is unset).

Security: every page is a Jinja2 template with autoescape; chart data is JSON in a
``<script type="application/json">`` block with ``<`` escaped; a Content-Security-Policy allows
only this origin's scripts (no inline script).
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from modelatlas import __version__
from modelatlas.analysis import sources, views
from modelatlas.analysis.atlas import Atlas, Entry, load_atlas
from modelatlas.catalog.repository import Catalog
from modelatlas.errors import NotFoundError, UserError
from modelatlas.store.base import Store
from modelatlas.web import pages
from modelatlas.web.render import Renderer

TOKEN_ENV = "MODELATLAS_API_TOKEN"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def plotly_js_path() -> Path:
    """plotly.min.js as bundled with the plotly package (served locally, no CDN)."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        raise UserError("The plotly package is not installed (pip install plotly).")
    path = Path(spec.origin).parent / "package_data" / "plotly.min.js"
    if not path.is_file():  # pragma: no cover - plotly always ships it
        raise UserError(f"plotly.min.js not found at {path}; reinstall the plotly package.")
    return path


def static_dir() -> Path:
    return Path(str(resources.files("modelatlas.web").joinpath("static")))


class AtlasCache:
    """The atlas over a store, rebuilt when the store's contents change."""

    def __init__(
        self,
        store: Store | None,
        *,
        catalog: Catalog | None = None,
        refresh_seconds: float = 2.0,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._atlas: Atlas | None = None
        self._version: tuple[Any, ...] | None = None
        self._checked = 0.0

    def _version_now(self) -> tuple[Any, ...] | None:
        return sources.store_version(self.store) if self.store is not None else None

    def get(self) -> Atlas:
        now = time.monotonic()
        with self._lock:
            if self._atlas is not None and now - self._checked < self.refresh_seconds:
                return self._atlas
            version = self._version_now()
            self._checked = now
            if self._atlas is None or version != self._version:
                self._atlas = load_atlas(self.store, self.catalog)
                self._version = version
            return self._atlas

    def reload(self) -> Atlas:
        with self._lock:
            self._atlas = None
            self._checked = 0.0
        return self.get()


def get_atlas(request: Request) -> Atlas:
    cache: AtlasCache = request.app.state.atlas_cache
    return cache.get()


AtlasDep = Annotated[Atlas, Depends(get_atlas)]


def board_filters(
    size_class: str | None = None,
    price_tier: str | None = None,
    open_weights: bool | None = None,
    reasoning: bool | None = None,
    modality: str | None = None,
    creator: str | None = None,
    index_version: str | None = None,
    sort: str = "intelligence_index",
    descending: bool = True,
) -> dict[str, Any]:
    return {
        "size_class": size_class or None,
        "price_tier": price_tier or None,
        "open_weights": open_weights,
        "reasoning": reasoning,
        "modality": modality or None,
        "creator": creator or None,
        "index_version": index_version or None,
        "sort": sort,
        "descending": descending,
    }


FilterDep = Annotated[dict[str, Any], Depends(board_filters)]


def require_token(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """Starts-work endpoints need ``Authorization: Bearer $MODELATLAS_API_TOKEN``."""
    token: str | None = request.app.state.api_token
    if not token:
        raise HTTPException(403, f"Disabled: set {TOKEN_ENV} to enable this endpoint.")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "A valid bearer token is required.")


class ReloadResult(BaseModel):
    models: int
    built_at: str


def create_app(
    store: Store | None,
    *,
    catalog: Catalog | None = None,
    refresh_seconds: float = 2.0,
    api_token: str | None = None,
) -> FastAPI:
    """The app over ``store`` (None: the built-in catalog only)."""
    cache = AtlasCache(store, catalog=catalog, refresh_seconds=refresh_seconds)
    renderer = Renderer(static=False)
    token = api_token if api_token is not None else os.environ.get(TOKEN_ENV)

    app = FastAPI(
        title="modelatlas",
        version=__version__,
        description=(
            "Independent analysis of AI models and their API endpoints: measured and reported "
            "results, comparison classes, narrative and charts. Every figure carries its source "
            "(measured here or reported elsewhere, with date) and, for index figures, the index "
            "version. Prices are USD per 1M tokens; null means unknown (never free)."
        ),
    )
    app.state.atlas_cache = cache
    app.state.api_token = token

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if not request.url.path.startswith(("/docs", "/redoc")):
            response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    def entry_or_404(atlas: Atlas, slug: str) -> Entry:
        entry = atlas.find(slug)
        if entry is None:
            raise NotFoundError("model", slug, atlas.entries)
        return entry

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> Response:
        if request.url.path.startswith(("/api/", "/csv/")):
            return JSONResponse(
                {"detail": exc.message, "suggestions": exc.suggestions}, status_code=404
            )
        html = renderer.render(
            "error.html",
            request.url.path,
            title="Not found",
            message=exc.message,
            hint=exc.hint,
            built_at=None,
        )
        return HTMLResponse(html, status_code=404)

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(plotly_js_path(), media_type="application/javascript")

    # -- HTML ------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def leaderboard_page(atlas: AtlasDep, request: Request, filters: FilterDep) -> HTMLResponse:
        selected = {k: v for k, v in request.query_params.items() if v}
        query = str(request.url.query)
        csv_path = "/csv/leaderboard.csv" + (f"?{query}" if query else "")

        def render() -> str:
            rows = views.leaderboard(atlas, **filters)
            return pages.leaderboard_html(renderer, atlas, rows, selected, csv_path)

        html = atlas.memo(("html", "leaderboard"), render) if not selected else render()
        return HTMLResponse(html)

    @app.get("/models/{slug}/", response_class=HTMLResponse, include_in_schema=False)
    def model_page_html(slug: str, atlas: AtlasDep) -> HTMLResponse:
        entry = entry_or_404(atlas, slug)
        html = atlas.memo(
            ("html", "model", entry.slug),
            lambda: pages.model_html(renderer, atlas, entry, views.model_page(atlas, entry)),
        )
        return HTMLResponse(html)

    @app.get("/models/{slug}/providers/", response_class=HTMLResponse, include_in_schema=False)
    def providers_page_html(slug: str, atlas: AtlasDep) -> HTMLResponse:
        entry = entry_or_404(atlas, slug)
        page = _provider_page(atlas, entry)
        csv_path = f"/csv/models/{entry.slug}/endpoints.csv"
        return HTMLResponse(pages.providers_html(renderer, atlas, page, csv_path))

    @app.get("/compare/", response_class=HTMLResponse, include_in_schema=False)
    def compare_page_html(
        atlas: AtlasDep, models: Annotated[str, Query(max_length=2000)] = ""
    ) -> HTMLResponse:
        slugs = _split(models)
        page = views.compare(atlas, slugs)
        csv_path = "/csv/compare.csv?models=" + ",".join(m.slug for m in page.models)
        return HTMLResponse(pages.compare_html(renderer, atlas, page, "/compare/", csv_path))

    @app.get("/creators/", response_class=HTMLResponse, include_in_schema=False)
    def creators_page_html(atlas: AtlasDep) -> HTMLResponse:
        return HTMLResponse(pages.creators_html(renderer, atlas))

    @app.get("/creators/{slug}/", response_class=HTMLResponse, include_in_schema=False)
    def creator_page_html(slug: str, atlas: AtlasDep) -> HTMLResponse:
        page = _creator(atlas, slug)
        csv_path = f"/csv/creators/{page.slug}.csv"
        return HTMLResponse(pages.creator_html(renderer, atlas, page, csv_path))

    def _provider_page(atlas: Atlas, entry: Entry) -> views.ProviderPage:
        return pages.provider_page(atlas, entry, cache.store)

    def _creator(atlas: Atlas, slug: str) -> views.CreatorPage:
        page = views.creator_page(atlas, slug)
        if page is None:
            raise NotFoundError("creator", slug, atlas.creators())
        return page

    # -- JSON API --------------------------------------------------------------------------

    @app.get("/api/v1/models", response_model=list[views.ModelSummary], tags=["models"])
    def api_models(atlas: AtlasDep, filters: FilterDep) -> list[views.ModelSummary]:
        """Every model (the leaderboard), filtered and sorted."""
        return views.leaderboard(atlas, **filters)

    @app.get("/api/v1/models/{slug}", response_model=views.ModelPage, tags=["models"])
    def api_model(slug: str, atlas: AtlasDep) -> views.ModelPage:
        """Everything a model page shows: facts, figures with sources, narrative, charts, FAQ."""
        return views.model_page(atlas, entry_or_404(atlas, slug))

    @app.get("/api/v1/models/{slug}/providers", response_model=views.ProviderPage, tags=["models"])
    def api_providers(slug: str, atlas: AtlasDep) -> views.ProviderPage:
        """Every endpoint of a model: prices, measured speed and latency, daily history."""
        return _provider_page(atlas, entry_or_404(atlas, slug))

    @app.get("/api/v1/compare", response_model=views.ComparePage, tags=["models"])
    def api_compare(
        atlas: AtlasDep,
        models: Annotated[str, Query(description="2-6 model slugs, comma-separated")],
    ) -> views.ComparePage:
        """Models side by side."""
        slugs = _split(models)
        if not 1 <= len(slugs) <= 6:
            raise HTTPException(422, "Give 2 to 6 model slugs, comma-separated.")
        return views.compare(atlas, slugs)

    @app.get("/api/v1/creators", tags=["creators"])
    def api_creators(atlas: AtlasDep) -> list[dict[str, Any]]:
        """Every creator with its number of models."""
        return [{"slug": s, "name": n, "models": c} for s, n, c in pages.creators_list(atlas)]

    @app.get("/api/v1/creators/{slug}", response_model=views.CreatorPage, tags=["creators"])
    def api_creator(slug: str, atlas: AtlasDep) -> views.CreatorPage:
        return _creator(atlas, slug)

    @app.get("/api/v1/sources", tags=["meta"])
    def api_sources(atlas: AtlasDep) -> dict[str, Any]:
        """Imported reported snapshots and when the data was last rebuilt."""
        return {
            "built_at": atlas.built_at.isoformat(),
            "models": len(atlas.entries),
            "reported_imports": atlas.imports,
            "index_definitions": {
                name: {"title": d.title, "version": d.version, "date": d.date}
                for name, d in atlas.definitions.items()
            },
        }

    @app.post(
        "/api/v1/reload",
        response_model=ReloadResult,
        tags=["meta"],
        dependencies=[Depends(require_token)],
    )
    def api_reload() -> ReloadResult:
        """Rebuild the read model from the store now (needs the API token)."""
        fresh = cache.reload()
        return ReloadResult(models=len(fresh.entries), built_at=fresh.built_at.isoformat())

    # -- CSV -------------------------------------------------------------------------------

    def csv_response(text: str, name: str) -> Response:
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.get("/csv/leaderboard.csv", tags=["csv"])
    def csv_leaderboard(atlas: AtlasDep, filters: FilterDep) -> Response:
        return csv_response(
            pages.leaderboard_csv(views.leaderboard(atlas, **filters)), "models.csv"
        )

    @app.get("/csv/models/{slug}/{table}.csv", tags=["csv"])
    def csv_model(slug: str, table: str, atlas: AtlasDep) -> Response:
        entry = entry_or_404(atlas, slug)
        if table not in pages.MODEL_TABLES:
            raise NotFoundError("table", table, pages.MODEL_TABLES)
        page = views.model_page(atlas, entry)
        text = pages.model_csv(page, table) or ""
        return csv_response(text, f"{entry.slug}-{table}.csv")

    @app.get("/csv/compare.csv", tags=["csv"])
    def csv_compare(atlas: AtlasDep, models: str = "") -> Response:
        return csv_response(pages.compare_csv(views.compare(atlas, _split(models))), "compare.csv")

    @app.get("/csv/creators/{slug}.csv", tags=["csv"])
    def csv_creator(slug: str, atlas: AtlasDep) -> Response:
        return csv_response(pages.creator_csv(_creator(atlas, slug)), f"{slug}.csv")

    # After the plotly.min.js route, which the mount would otherwise shadow.
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    return app


def _split(models: str) -> list[str]:
    return [s.strip() for s in models.split(",") if s.strip()][:6]
