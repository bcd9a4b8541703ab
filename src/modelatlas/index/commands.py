"""``modelatlas index``: Intelligence Index definitions and computation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from modelatlas.errors import UserError
from modelatlas.index.compute import (
    KNOWN_MODALITIES,
    AggregateResult,
    BootstrapResult,
    IndexResult,
    ScoreError,
    UnknownComponentError,
    bootstrap_ci,
    compute_index,
    format_value,
    looks_like_fractions,
)
from modelatlas.index.definitions import IndexDefinition, builtin_definitions, get_definition

app = typer.Typer(help="Intelligence Index definitions and computation.", no_args_is_help=True)

DefinitionOption = Annotated[
    str,
    typer.Option(
        "--definition",
        "-d",
        help="Index definition name (see 'modelatlas index list') or a definition .toml file.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ModalitiesOption = Annotated[
    str | None,
    typer.Option(
        "--modalities",
        help="The model's input modalities, comma-separated (text,image). Components that need "
        "a modality the model lacks make their (sub-)indices 'not applicable'. "
        "Default: every component applies.",
    ),
]


def _console() -> Console:
    return Console(highlight=False)


def _read_json(path: Path, what: str) -> Any:
    """Parse a JSON file; every problem is a UserError naming the file (and line/column)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{what} file is a directory: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"Cannot read {what.lower()} file {path}: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"Invalid JSON in {what.lower()} file {path}, line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}."
        ) from None


def _read_object(path: Path, what: str, example: str) -> dict[str, Any]:
    data = _read_json(path, what)
    if not isinstance(data, dict):
        raise UserError(
            f"{what} file {path} must hold a JSON object mapping component keys to "
            f"{example}, got {type(data).__name__}."
        )
    return data


def _parse_modalities(value: str | None) -> set[str] | None:
    if value is None:
        return None
    modalities = {m.strip().lower() for m in value.split(",") if m.strip()}
    unknown = sorted(modalities - set(KNOWN_MODALITIES))
    if unknown or not modalities:
        raise UserError(
            f"Unknown input modality in --modalities: {', '.join(unknown) or '(none given)'}.",
            hint=f"Known modalities: {', '.join(KNOWN_MODALITIES)}.",
        )
    return modalities


def _num(value: float | None, decimals: int = 2) -> str:
    return "-" if value is None else f"{value:.{decimals}f}"


def _aggregate_json(result: AggregateResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "value": result.value,
        "display": result.display(),
        "complete": result.complete,
        "status": result.status,
        "missing": result.missing,
        "not_applicable": result.not_applicable,
    }


def index_result_json(result: IndexResult) -> dict[str, Any]:
    """The JSON document ``index compute --json`` prints."""
    return {
        "definition": result.definition,
        "version": result.version,
        "fingerprint": result.fingerprint,
        **_aggregate_json(result),
        "components": {
            c.key: {
                "score": c.score,
                "points": c.points,
                "weight": c.weight,
                "contribution": c.contribution,
                "status": c.status,
            }
            for c in result.components
        },
        "sub_indices": {key: _aggregate_json(sub) for key, sub in result.sub_indices.items()},
    }


def _status_text(result: AggregateResult, decimals: int) -> str:
    shown = escape(result.display(decimals))
    if result.status == "incomplete":
        return f"[bold yellow]{shown}[/] (missing: {escape(', '.join(result.missing))})"
    if result.status == "not_applicable":
        reason = ", ".join(result.not_applicable)
        return f"[dim]{shown}[/] (not applicable: needs {escape(reason)})"
    return f"[bold]{shown}[/]"


def _print_result(result: IndexResult, definition: IndexDefinition, decimals: int) -> None:
    console = _console()
    console.print(
        f"[bold]{escape(definition.title)}[/] ({escape(result.definition)}, "
        f"version {escape(result.version)})"
    )
    console.print(f"Intelligence Index: {_status_text(result, decimals)}")
    for sub in result.sub_indices.values():
        console.print(f"  {escape(sub.name)}: {_status_text(sub, decimals)}")
    table = Table(title="Components", title_justify="left")
    table.add_column("Component")
    table.add_column("Key", no_wrap=True)
    table.add_column("Score", justify="right")
    table.add_column("Points", justify="right")
    table.add_column("Weight", justify="right")
    table.add_column("Contribution", justify="right")
    for c in result.components:
        score = {"missing": "missing", "not_applicable": "n/a"}.get(c.status, _num(c.score))
        table.add_row(
            escape(c.name),
            escape(c.key),
            score,
            _num(c.points),
            f"{c.weight * 100:.1f}%",
            _num(c.contribution),
        )
    console.print(table)


@app.command("list")
def list_definitions(json_output: JsonOption = False) -> None:
    """List the built-in index definitions."""
    definitions = builtin_definitions()
    if json_output:
        rows = [
            {
                "name": d.name,
                "title": d.title,
                "version": d.version,
                "date": d.date,
                "aggregation": d.aggregation,
                "components": [c.key for c in d.headline_components],
                "sub_indices": [s.key for s in d.sub_indices],
                "fingerprint": d.fingerprint,
            }
            for d in definitions.values()
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Index definitions", title_justify="left")
    for column in ("Name", "Version", "Date"):
        table.add_column(column, no_wrap=True)
    table.add_column("Evals", justify="right")
    table.add_column("Weighting")
    table.add_column("Sub-indices")
    for d in definitions.values():
        table.add_row(
            escape(d.name),
            escape(d.version),
            d.date,
            str(len(d.headline_components)),
            "plain mean" if d.aggregation == "mean" else "weighted",
            escape(", ".join(s.key for s in d.sub_indices)) or "-",
        )
    _console().print(table)


@app.command("show")
def show_definition(
    name: Annotated[str, typer.Argument(help="Definition name or a definition .toml file.")],
    json_output: JsonOption = False,
) -> None:
    """Show a definition: components, scales, weights, categories and sub-indices."""
    definition = get_definition(name)
    if json_output:
        data = definition.model_dump(mode="json")
        data["fingerprint"] = definition.fingerprint
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    console = _console()
    console.print(
        f"[bold]{escape(definition.title)}[/] ({escape(definition.name)}), version "
        f"{escape(definition.version)}, {definition.date}, {definition.aggregation}, "
        f"fingerprint {definition.fingerprint}"
    )
    console.print(escape(definition.description))
    if definition.source:
        console.print(f"Source: {escape(definition.source)}")
    total = definition.total_weight
    table = Table(title="Components", title_justify="left")
    table.add_column("Key", no_wrap=True)
    for column in ("Component", "Category", "Scale"):
        table.add_column(column)
    table.add_column("Weight", justify="right")
    table.add_column("Share", justify="right")
    for c in definition.components:
        name = c.name if c.requires == "text" else f"{c.name} (needs {c.requires} input)"
        table.add_row(
            escape(c.key),
            escape(name),
            escape(c.category),
            escape(c.describe_scale()),
            f"{c.weight:g}",
            f"{c.weight / total * 100:.1f}%" if c.weight > 0 else "sub-idx",
        )
    console.print(table)
    if any(c.weight == 0 for c in definition.components):
        console.print("sub-idx: weight 0, used only by sub-indices, not by the headline index.")
    if any(cat.weight is not None for cat in definition.categories):
        categories = Table(title="Categories", title_justify="left")
        categories.add_column("Category")
        categories.add_column("Weight", justify="right")
        categories.add_column("Share", justify="right")
        for cat in definition.categories:
            weight = cat.weight
            categories.add_row(
                escape(cat.name),
                "-" if weight is None else f"{weight:g}",
                "-" if weight is None else f"{weight / total * 100:.1f}%",
            )
        console.print(categories)
    if definition.sub_indices:
        subs = Table(title="Sub-indices", title_justify="left")
        subs.add_column("Key")
        subs.add_column("Name")
        subs.add_column("Components (weight)")
        for sub in definition.sub_indices:
            parts = ", ".join(
                k if sub.weights is None else f"{k} ({sub.weight_of(k):g})" for k in sub.components
            )
            subs.add_row(escape(sub.key), escape(sub.name), escape(parts))
        console.print(subs)
    for note in definition.notes:
        console.print(f"- {escape(note)}")


@app.command("compute")
def compute(
    definition_name: DefinitionOption,
    scores_file: Annotated[
        Path,
        typer.Option(
            "--scores",
            "-s",
            help="JSON object mapping component keys to scores in each component's scale "
            "(0-100 for percent components; null = missing).",
        ),
    ],
    json_output: JsonOption = False,
    modalities: ModalitiesOption = None,
    decimals: Annotated[
        int, typer.Option("--decimals", min=0, max=6, help="Decimals shown (tables only).")
    ] = 0,
) -> None:
    """Compute an index and its sub-indices from component scores."""
    definition = get_definition(definition_name)
    scores = _read_object(scores_file, "Scores", "numbers")
    try:
        result = compute_index(definition, scores, modalities=_parse_modalities(modalities))
    except (ScoreError, UnknownComponentError) as exc:
        raise UserError(f"{scores_file}: {exc.message}", hint=exc.hint) from None
    if json_output:
        typer.echo(json.dumps(index_result_json(result), indent=2))
        return
    if looks_like_fractions(definition, scores):
        Console(stderr=True, highlight=False).print(
            "[yellow]warning:[/] every percent score is at most 1: these look like fractions; "
            "percent components take 0-100."
        )
    _print_result(result, definition, decimals)


def _bootstrap_json(result: BootstrapResult) -> dict[str, Any]:
    return result.model_dump(mode="json")


@app.command("ci")
def confidence_interval(
    definition_name: DefinitionOption,
    items_file: Annotated[
        Path,
        typer.Option(
            "--items",
            "-i",
            help="JSON object mapping component keys to lists of per-item scores "
            "(the credit each item earned, 0-1; ratings for Elo components).",
        ),
    ],
    n_boot: Annotated[int, typer.Option("--n-boot", min=1, help="Bootstrap resamples.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    json_output: JsonOption = False,
    modalities: ModalitiesOption = None,
) -> None:
    """Bootstrap 95% confidence intervals (items resampled within each component)."""
    definition = get_definition(definition_name)
    items = _read_object(items_file, "Items", "lists of item scores")
    try:
        result = bootstrap_ci(
            definition, items, n_boot=n_boot, seed=seed, modalities=_parse_modalities(modalities)
        )
    except (ScoreError, UnknownComponentError) as exc:
        raise UserError(f"{items_file}: {exc.message}", hint=exc.hint) from None
    if json_output:
        typer.echo(json.dumps(_bootstrap_json(result), indent=2))
        return
    console = _console()
    console.print(
        f"[bold]{escape(definition.title)}[/] ({escape(result.definition)}, version "
        f"{escape(result.version)}): {result.n_boot} resamples, seed {result.seed}"
    )
    table = Table(title="95% bootstrap intervals (index points)", title_justify="left")
    for column in ("What", "Items"):
        table.add_column(column)
    for column in ("Estimate", "Low", "High"):
        table.add_column(column, justify="right")
    if result.index is None:
        missing = ", ".join(result.missing + result.not_applicable)
        table.add_row("Intelligence Index", "", format_value(None, result.status), "", "")
        console.print(f"Index without interval: no items for {escape(missing)}")
    else:
        i = result.index
        table.add_row("Intelligence Index", "", _num(i.point), _num(i.low), _num(i.high))
    for key, sub in result.sub_indices.items():
        name = escape(definition.sub_index(key).name)
        if sub is None:
            table.add_row(name, "", "no interval", "", "")
        else:
            table.add_row(name, "", _num(sub.point), _num(sub.low), _num(sub.high))
    for key, c in result.components.items():
        table.add_row(
            escape(key), str(result.n_items[key]), _num(c.point), _num(c.low), _num(c.high)
        )
    console.print(table)
