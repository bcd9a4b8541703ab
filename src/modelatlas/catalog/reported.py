"""Published ("reported") results: the reference site's free data API, imported as-is.

The format is Artificial Analysis' ``GET /api/v2/data/llms/models`` response::

    {"status": 200, "prompt_options": {...}, "data": [
      {"id": uuid, "name", "slug", "release_date", "model_creator": {"id", "name", "slug"},
       "evaluations": {"artificial_analysis_intelligence_index": 23.8, ..., "mmlu_pro": 0.808,
                       "gpqa": 0.782, "aime_25": 0.93, ...},
       "pricing": {"price_1m_blended_3_to_1", "price_1m_input_tokens", "price_1m_output_tokens"},
       "median_output_tokens_per_second", "median_time_to_first_token_seconds",
       "median_time_to_first_answer_token"}, ...]}

Stored in ``reported_results`` (one row per model and snapshot), never mixed with measured
results. Conversions:

- evaluations are fractions in the API; they are stored in percent (0-100) under our keys
  (:data:`EVALUATION_KEYS`: ``gpqa`` -> ``gpqa_diamond``, ``aime_25`` -> ``aime25``, ...). A 0
  is a score (small models do score 0 on hard agentic tasks); ``null`` is unknown.
- index values (``intelligence``, ``coding``, ``math``) are stored as published, with the index
  version they belong to (:func:`infer_index_version`, or given).
- prices and speed/latency medians of 0 mean unknown and are stored as null, never as free
  or instant.

Re-importing the same snapshot (source + date) replaces it: the import is idempotent. AA slugs
are matched to catalog models by slug or alias.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy import delete, func, select

from modelatlas.errors import UserError
from modelatlas.store.base import Store
from modelatlas.store.reported_tables import ReportedImportRow, ReportedResultRow

SOURCE = "artificialanalysis"
SOURCE_URL = "https://artificialanalysis.ai/api/v2/data/llms/models"

EVALUATION_KEYS: dict[str, str] = {
    "mmlu_pro": "mmlu_pro",
    "gpqa": "gpqa_diamond",
    "hle": "hle",
    "livecodebench": "livecodebench",
    "scicode": "scicode",
    "math_500": "math500",
    "aime": "aime24",
    "aime_25": "aime25",
    "ifbench": "ifbench",
    "lcr": "lcr",
    "terminalbench_hard": "terminalbench_hard",
    "terminalbench_v2_1": "terminalbench_2_1",
    "tau2": "tau2",
    "tau_banking": "tau3_banking",
}
"""AA API evaluation field -> our evaluation key (benchmark key when we run it, else the index
definitions' component key)."""

INDEX_KEYS: dict[str, str] = {
    "artificial_analysis_intelligence_index": "intelligence",
    "artificial_analysis_coding_index": "coding",
    "artificial_analysis_math_index": "math",
}


class _Creator(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    name: str | None = None
    slug: str | None = None


class ApiModel(BaseModel):
    """One entry of the API's ``data`` list (unknown fields are kept in ``raw``)."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    slug: str
    release_date: str | None = None
    model_creator: _Creator | None = None
    evaluations: dict[str, float | None] = Field(default_factory=dict)
    pricing: dict[str, float | None] = Field(default_factory=dict)
    median_output_tokens_per_second: float | None = None
    median_time_to_first_token_seconds: float | None = None
    median_time_to_first_answer_token: float | None = None


class ApiResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: int | None = None
    data: list[ApiModel]


class ImportReport(BaseModel):
    source: str
    snapshot_date: dt.date
    path: str
    sha256: str
    index_version: str | None
    models: int
    matched: int
    unmatched_examples: list[str]
    replaced: int
    """Rows of an earlier import of the same snapshot that this one replaced."""
    with_prices: int
    with_speed: int
    coding_index_check: dict[str, int]
    """How many published Coding Index values ``index_version``'s definition reproduces."""


def _known(value: float | None) -> float | None:
    """0 (or a negative or missing value) means unknown in the API's price and speed fields."""
    return value if value is not None and value > 0 else None


def infer_index_version(models: Sequence[ApiModel]) -> str:
    """The index definition the published values belong to, from the evaluations present.

    Terminal-Bench 2.1 and tau3-Banking appear only with v4.1; Terminal-Bench Hard, tau2,
    IFBench and AA-LCR with v3; otherwise v2. (The API does not say; a guess checked against
    the Coding Index on import.)
    """

    def has(key: str) -> bool:
        return any(m.evaluations.get(key) is not None for m in models)

    if has("terminalbench_v2_1") or has("tau_banking"):
        return "aa-v4.1"
    if has("terminalbench_hard") or has("tau2") or has("ifbench"):
        return "aa-v3"
    return "aa-v2"


def snapshot_date_from(path: Path) -> dt.date | None:
    """A date in the file name (``..._2026-07-31.json``), if any."""
    found = re.findall(r"(\d{4}-\d{2}-\d{2})", path.name)
    if not found:
        return None
    try:
        return dt.date.fromisoformat(found[-1])
    except ValueError:
        return None


def read_api_file(path: Path) -> tuple[ApiResponse, str]:
    """The parsed file and its sha256; errors name the file and the bad field."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"Cannot read {path}: {exc.strerror}.") from exc
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise UserError(f"{path} is not JSON: {exc}.") from exc
    if isinstance(payload, list):
        payload = {"data": payload}
    try:
        parsed = ApiResponse.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(f"{path}: {where}: {first['msg']}.") from exc
    return parsed, hashlib.sha256(raw).hexdigest()


def convert(model: ApiModel) -> dict[str, Any]:
    """Our fields for one API model: evaluations in percent under our keys, 0-as-unknown."""
    evaluations = {
        ours: round(100 * value, 6)
        for theirs, ours in EVALUATION_KEYS.items()
        if (value := model.evaluations.get(theirs)) is not None
    }
    extra = {
        k: v
        for k, v in model.evaluations.items()
        if k not in EVALUATION_KEYS and k not in INDEX_KEYS and v is not None
    }
    if extra:
        evaluations.update({f"aa:{k}": v for k, v in extra.items()})
    indices = {
        ours: value
        for theirs, ours in INDEX_KEYS.items()
        if (value := model.evaluations.get(theirs)) is not None
    }
    pricing = model.pricing
    creator = model.model_creator
    return {
        "external_id": model.id,
        "external_slug": model.slug,
        "name": model.name,
        "creator_slug": creator.slug if creator else None,
        "creator_name": creator.name if creator else None,
        "release_date": model.release_date,
        "evaluations": evaluations,
        "indices": indices,
        "price_input": _known(pricing.get("price_1m_input_tokens")),
        "price_output": _known(pricing.get("price_1m_output_tokens")),
        "price_blended_3_to_1": _known(pricing.get("price_1m_blended_3_to_1")),
        "median_output_tps": _known(model.median_output_tokens_per_second),
        "median_ttft_s": _known(model.median_time_to_first_token_seconds),
        "median_ttfat_s": _known(model.median_time_to_first_answer_token),
        "raw": model.model_dump(mode="json"),
    }


def _coding_check(rows: Sequence[Mapping[str, Any]], index_version: str | None) -> dict[str, int]:
    """Recompute the Coding Index from the evaluations; count agreements within 0.1 point
    (the API rounds some evaluations to three decimals, e.g. SciCode 0.569, which moves a
    recomputed index by up to about 0.07)."""
    from modelatlas.index.compute import compute_index
    from modelatlas.index.definitions import get_definition

    out = {"checked": 0, "agree": 0}
    if index_version is None:
        return out
    try:
        definition = get_definition(index_version)
    except UserError:
        return out
    if "coding" not in {s.key for s in definition.sub_indices}:
        return out
    keys = set(definition.component_keys)
    for row in rows:
        published = row["indices"].get("coding")
        if published is None:
            continue
        scores = {}
        for key, value in row["evaluations"].items():
            comp = _component_of(key, keys)
            if comp is not None:
                scores[comp] = value
        sub = compute_index(definition, scores).sub_indices["coding"]
        if sub.value is None:
            continue
        out["checked"] += 1
        out["agree"] += abs(sub.value - published) <= 0.1
    return out


_COMPONENT_ALIASES = {"gpqa_diamond": "gpqa", "aime24": "aime24", "aime25": "aime25"}


def _component_of(our_key: str, component_keys: set[str]) -> str | None:
    if our_key in component_keys:
        return our_key
    alias = _COMPONENT_ALIASES.get(our_key)
    return alias if alias in component_keys else None


def import_reported(
    store: Store,
    path: Path,
    *,
    snapshot_date: dt.date | None = None,
    index_version: str | None = None,
    source: str = SOURCE,
) -> ImportReport:
    """Import (or re-import: replace) a published snapshot; match models to the catalog."""
    from modelatlas.catalog.repository import load_catalog

    parsed, digest = read_api_file(path)
    date = snapshot_date or snapshot_date_from(path) or dt.datetime.now(dt.UTC).date()
    version = index_version or infer_index_version(parsed.data)
    catalog = load_catalog(store)
    rows = [convert(m) for m in parsed.data]
    seen: set[str] = set()
    for row in rows:
        if row["external_id"] in seen:
            raise UserError(f"{path}: model id {row['external_id']} appears twice.")
        seen.add(row["external_id"])
        found = catalog.find_model(row["external_slug"])
        row["model_slug"] = found.slug if found else None
    matched = sum(1 for r in rows if r["model_slug"])
    check = _coding_check(rows, version)
    with store.session() as session:
        same_snapshot = (ReportedResultRow.source == source) & (
            ReportedResultRow.snapshot_date == date
        )
        replaced = int(
            session.scalar(select(func.count()).select_from(ReportedResultRow).where(same_snapshot))
            or 0
        )
        session.execute(delete(ReportedResultRow).where(same_snapshot))
        session.execute(
            delete(ReportedImportRow).where(
                ReportedImportRow.source == source, ReportedImportRow.snapshot_date == date
            )
        )
        for row in rows:
            session.add(
                ReportedResultRow(source=source, snapshot_date=date, index_version=version, **row)
            )
        session.add(
            ReportedImportRow(
                source=source,
                snapshot_date=date,
                path=str(path),
                sha256=digest,
                index_version=version,
                models=len(rows),
                matched=matched,
                notes={"coding_index_check": check, "url": SOURCE_URL},
            )
        )
    return ImportReport(
        source=source,
        snapshot_date=date,
        path=str(path),
        sha256=digest,
        index_version=version,
        models=len(rows),
        matched=matched,
        unmatched_examples=sorted(r["external_slug"] for r in rows if not r["model_slug"])[:10],
        replaced=replaced,
        with_prices=sum(1 for r in rows if r["price_input"] is not None),
        with_speed=sum(1 for r in rows if r["median_output_tps"] is not None),
        coding_index_check=check,
    )


class ReportedResult(BaseModel):
    """A published result as the app reads it (``kind`` is always ``"reported"``)."""

    kind: str = "reported"
    source: str
    snapshot_date: dt.date
    external_slug: str
    name: str
    model_slug: str | None
    creator_name: str | None
    index_version: str | None
    evaluations: dict[str, float]
    indices: dict[str, float]
    price_input: float | None
    price_output: float | None
    price_blended_3_to_1: float | None
    median_output_tps: float | None
    median_ttft_s: float | None
    median_ttfat_s: float | None


def _as_result(row: ReportedResultRow) -> ReportedResult:
    return ReportedResult(
        source=row.source,
        snapshot_date=row.snapshot_date,
        external_slug=row.external_slug,
        name=row.name,
        model_slug=row.model_slug,
        creator_name=row.creator_name,
        index_version=row.index_version,
        evaluations={k: v for k, v in row.evaluations.items() if not k.startswith("aa:")},
        indices=row.indices,
        price_input=row.price_input,
        price_output=row.price_output,
        price_blended_3_to_1=row.price_blended_3_to_1,
        median_output_tps=row.median_output_tps,
        median_ttft_s=row.median_ttft_s,
        median_ttfat_s=row.median_ttfat_s,
    )


def reported_for(store: Store, slug: str, *, source: str = SOURCE) -> list[ReportedResult]:
    """Published results for a catalog model (or an AA slug), newest snapshot first."""
    with store.session() as session:
        rows = session.scalars(
            select(ReportedResultRow)
            .where(
                ReportedResultRow.source == source,
                (ReportedResultRow.model_slug == slug) | (ReportedResultRow.external_slug == slug),
            )
            .order_by(ReportedResultRow.snapshot_date.desc())
        ).all()
        return [_as_result(r) for r in rows]


def list_imports(store: Store) -> list[dict[str, Any]]:
    with store.session() as session:
        rows = session.scalars(
            select(ReportedImportRow).order_by(ReportedImportRow.snapshot_date.desc())
        ).all()
        return [
            {
                "source": r.source,
                "snapshot_date": r.snapshot_date.isoformat(),
                "index_version": r.index_version,
                "models": r.models,
                "matched": r.matched,
                "sha256": r.sha256,
                "path": r.path,
                "imported_at": r.imported_at,
            }
            for r in rows
        ]


# --- commands (register as ``modelatlas reported``) ----------------------------------------

app = typer.Typer(
    help="Published results (the reference site's data API), kept apart from measured ones.",
    no_args_is_help=True,
)
DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL or SQLite file (default: MODELATLAS_DB or home)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@app.command("import")
def import_command(
    path: Annotated[Path, typer.Option("--path", help="A saved /api/v2/data/llms/models reply.")],
    date: Annotated[
        str | None, typer.Option("--date", help="Snapshot date (default: from the file name).")
    ] = None,
    index_version: Annotated[
        str | None,
        typer.Option("--index-version", help="Index definition of the published values."),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import a published snapshot (re-importing the same date replaces it)."""
    from modelatlas.store.base import open_store

    when = None
    if date is not None:
        try:
            when = dt.date.fromisoformat(date)
        except ValueError:
            raise UserError(f"--date {date!r} is not a date like 2026-07-31.") from None
    store = open_store(db)
    try:
        report = import_reported(store, path, snapshot_date=when, index_version=index_version)
    finally:
        store.close()
    if as_json:
        _emit(report.model_dump(mode="json"))
        return
    check = report.coding_index_check
    typer.echo(
        f"imported {report.models} models from {report.source} snapshot {report.snapshot_date} "
        f"(index {report.index_version}; replaced {report.replaced} earlier rows)\n"
        f"matched to catalog models: {report.matched}/{report.models}\n"
        f"with prices: {report.with_prices}, with speed: {report.with_speed} "
        f"(0 in the source means unknown)\n"
        f"Coding Index reproduced by {report.index_version}: {check['agree']}/{check['checked']}"
    )


@app.command("show")
def show_command(
    slug: Annotated[str, typer.Argument(help="Catalog model slug or the source's slug.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show what was published about a model (reported, not measured)."""
    from modelatlas.store.base import open_store

    store = open_store(db)
    try:
        results = reported_for(store, slug)
    finally:
        store.close()
    if not results:
        raise UserError(
            f"No reported results for '{slug}'.",
            hint="Import some with: modelatlas reported import --path FILE",
        )
    if as_json:
        _emit([r.model_dump(mode="json") for r in results])
        return
    console = Console(highlight=False)
    for r in results:
        table = Table(title=f"REPORTED by {r.source} on {r.snapshot_date}: {r.name}")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for key, value in r.indices.items():
            table.add_row(f"{key} index ({r.index_version})", f"{value:g}")
        for key, value in r.evaluations.items():
            table.add_row(f"{key} %", f"{value:.1f}")
        facts: tuple[tuple[str, float | None], ...] = (
            ("input $/1M", r.price_input),
            ("output $/1M", r.price_output),
            ("output tok/s (median)", r.median_output_tps),
            ("TTFT s (median)", r.median_ttft_s),
        )
        for label, fact in facts:
            table.add_row(label, "unknown" if fact is None else f"{fact:g}")
        console.print(table)


@app.command("list")
def list_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List imported snapshots."""
    from modelatlas.store.base import open_store

    store = open_store(db)
    try:
        imports = list_imports(store)
    finally:
        store.close()
    if as_json:
        _emit(imports)
        return
    for i in imports:
        typer.echo(
            f"{i['source']} {i['snapshot_date']}: {i['models']} models "
            f"({i['matched']} matched), index {i['index_version']}"
        )
