"""``modelatlas eval``: run benchmarks against an endpoint, list, show and rescore runs."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from modelatlas.errors import UserError
from modelatlas.evals.runner import (
    JUDGE_MAX_TOKENS,
    EvalConfig,
    EvalSummary,
    EvalTarget,
    ItemOutcome,
    JudgeSummary,
    get_run,
    list_runs,
    load_summary,
    rescore_run,
    resolve_benchmarks,
    resolve_judge,
    resolve_target,
    run_eval,
)

app = typer.Typer(
    help="Evaluate endpoints on benchmarks; list, show and rescore eval runs.",
    no_args_is_help=True,
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL or SQLite file (default: MODELATLAS_DB or home)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _console() -> Console:
    return Console(highlight=False, width=None if sys.stdout.isatty() else 140)


def _open(db: str | None) -> Any:
    from modelatlas.store.base import open_store

    return open_store(db)


def _emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


# --- formatting ----------------------------------------------------------------------------


def _pct(value: float | None, decimals: int = 1) -> str:
    return "-" if value is None else f"{value:.{decimals}f}"


def _usd(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value == 0:
        return "$0"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def render_summary(summary: EvalSummary, console: Console | None = None) -> None:
    """Print a run's results: per benchmark, tokens and cost, and the indices over the run."""
    console = console or _console()
    title = f"eval {summary.run_id} on {summary.endpoint} ({summary.status})"
    if summary.sample:
        title = f"SAMPLE - {title}"
    table = Table(title=title)
    for name, justify in (
        ("benchmark", "left"),
        ("version", "left"),
        ("items", "right"),
        ("accuracy %", "right"),
        ("95% CI", "right"),
        ("no answer", "right"),
        ("extract fail", "right"),
        ("errors", "right"),
        ("out tok", "right"),
        ("cost", "right"),
        ("s/task", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for b in summary.benchmarks:
        ci = "-" if b.ci_low is None else f"{b.ci_low:.0f}-{b.ci_high:.0f}"
        items = f"{b.items}" + (f"x{b.repeats}" if b.repeats > 1 else "")
        table.add_row(
            b.display_name,
            b.version,
            items,
            _pct(b.accuracy),
            ci,
            str(b.no_answer),
            f"{b.extraction_failed} ({100 * b.extraction_failure_rate:.0f}%)",
            str(b.errors),
            f"{b.tokens.output:,}",
            _usd(b.cost.total),
            _secs(b.time_per_task_s),
        )
    console.print(table)
    t, c = summary.tokens, summary.cost
    tps = summary.median_output_speed_tps
    speed = "-" if tps is None else f"{tps:.1f} tok/s"
    console.print(
        f"tokens: input {t.input:,} (cached {t.cached_input:,}), output {t.output:,} "
        f"(reasoning {t.reasoning:,}, answer {t.answer:,}) \\[{t.source or '-'}]; "
        f"verbosity (output tokens over the run): {t.output:,}"
    )
    console.print(
        f"cost: input {_usd(c.input)}, cached input {_usd(c.cached_input)}, reasoning "
        f"{_usd(c.reasoning)}, answer {_usd(c.answer)}; total {_usd(c.total)}, per task "
        f"{_usd(c.per_task)} (prices: {c.price_source or 'unknown'})"
    )
    console.print(
        f"answers {summary.answers} ({summary.calls} called by this run, "
        f"{summary.from_cache} from the cache); time per task {_secs(summary.time_per_task_s)}; "
        f"median output speed {speed}"
    )
    if summary.judge is not None:
        render_judge(summary.judge, console)
    for index in summary.indices:
        if index.value is None:
            ran = ", ".join(f"{k}<-{v}" for k, v in index.components.items()) or "none"
            console.print(
                f"{index.title} ({index.definition} v{index.version}): [bold]incomplete[/] - "
                f"missing {', '.join(index.missing)} (ran: {ran}); no CI"
            )
        else:
            ci = (
                f" ({escape(index.ci_note or 'no CI')})"
                if index.ci_low is None
                else f" (95% bootstrap CI {index.ci_low:.1f}-{index.ci_high:.1f})"
            )
            label = " [SAMPLE]" if index.sample else ""
            console.print(
                f"{index.title} ({index.definition} v{index.version}): "
                f"[bold]{index.value:.1f}[/]{ci}{label}"
            )
    if summary.sample_note:
        console.print(f"[yellow]{escape(summary.sample_note)}[/]")
    for note in summary.notes:
        console.print(f"note: {escape(note)}")


def render_judge(judge: JudgeSummary, console: Console) -> None:
    """The pinned LLM equality judge: what it checked, and its own tokens and cost."""
    t, c = judge.tokens, judge.cost
    console.print(
        f"judge {escape(judge.endpoint)} ({escape(judge.model)}, prompt v{judge.prompt_version}, "
        f"temperature {judge.temperature:g}) on {', '.join(judge.benchmarks) or 'no benchmark'}: "
        f"checked {judge.checked}, equivalent {judge.equivalent}, not equivalent "
        f"{judge.not_equivalent}, unparseable {judge.unparseable} (excluded), failed "
        f"{judge.errors}; {judge.calls} called, {judge.from_cache} from the cache"
    )
    console.print(
        f"judge tokens (not the model's): input {t.input:,}, output {t.output:,}; "
        f"judge cost {_usd(c.total)} (prices: {c.price_source or 'unknown'})"
    )


class RichProgress:
    """Items done, accuracy so far, tokens, cost and ETA, on a rich progress bar."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("acc {task.fields[acc]}"),
            TextColumn("{task.fields[tokens]} tok"),
            TextColumn("{task.fields[cost]}"),
            TextColumn("cache {task.fields[cached]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task: TaskID | None = None
        self.run_id: str | None = None
        self.scores: list[float] = []
        self.tokens = 0
        self.cost: float | None = 0.0
        self.cached = 0

    def __enter__(self) -> RichProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def start(self, run_id: str, total: int, done: int) -> None:
        self.run_id = run_id
        self.task = self.progress.add_task(
            run_id, total=total, completed=done, acc="-", tokens="0", cost="$0", cached=0
        )

    def advance(self, outcome: ItemOutcome) -> None:
        if outcome.score is not None:
            self.scores.append(outcome.score)
        self.tokens += outcome.output_tokens
        if outcome.error is None:
            self.cost = (
                None
                if self.cost is None or outcome.cost_usd is None
                else self.cost + outcome.cost_usd
            )
        self.cached += outcome.from_cache
        if self.task is not None:
            acc = f"{100 * sum(self.scores) / len(self.scores):.1f}%" if self.scores else "-"
            self.progress.update(
                self.task,
                advance=1,
                acc=acc,
                tokens=f"{self.tokens:,}",
                cost=_usd(self.cost),
                cached=self.cached,
            )


# --- commands ------------------------------------------------------------------------------


def _split(names: str) -> list[str]:
    return [n.strip() for n in names.split(",") if n.strip()]


def _stored_target(store: Any, run_id: str) -> EvalTarget:
    with store.session() as session:
        run = get_run(session, run_id)
        return EvalTarget.model_validate(run.config["target"])


@app.command("run")
def run_command(
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint", "-e", help="Catalog endpoint slug (default local/smollm2-135m)."
        ),
    ] = None,
    benchmarks: Annotated[
        str, typer.Option("--benchmarks", "-b", help="Comma-separated benchmark keys.")
    ] = "mmlu_pro,gpqa_diamond",
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Items per benchmark (a sample).")
    ] = None,
    repeats: Annotated[int, typer.Option("--repeats", "-k", min=1, help="Repeats per item.")] = 1,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", min=1, help="Initial requests in flight.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the item sample.")] = 0,
    temperature: Annotated[float | None, typer.Option(help="Override temperature.")] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Override max_tokens.")] = None,
    top_p: Annotated[float | None, typer.Option(help="Send top_p.")] = None,
    request_seed: Annotated[int | None, typer.Option(help="Send this seed with requests.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Dataset mirror (MODELATLAS_DATA_DIR).")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Call this URL (ends before /chat/...).")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="API model id (--base-url).")] = None,
    api_key_env: Annotated[
        str | None, typer.Option("--api-key-env", help="Variable holding the API key.")
    ] = None,
    reasoning: Annotated[
        bool | None,
        typer.Option("--reasoning/--no-reasoning", help="Treat as a reasoning model or not."),
    ] = None,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Continue this run (its settings are kept).")
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="A note stored with the run.")
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(
            "--judge",
            help="Catalog endpoint slug of an LLM equality judge, asked (temperature 0, cached) "
            "only where exact / math-verify matching fails on math benchmarks.",
        ),
    ] = None,
    judge_base_url: Annotated[
        str | None, typer.Option("--judge-base-url", help="Judge URL (ends before /chat/...).")
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option("--judge-model", help="Judge API model id (--judge-base-url).")
    ] = None,
    judge_api_key_env: Annotated[
        str | None, typer.Option("--judge-api-key-env", help="Variable holding the judge's key.")
    ] = None,
    judge_max_tokens: Annotated[
        int, typer.Option("--judge-max-tokens", min=1, help="max_tokens of judge requests.")
    ] = JUDGE_MAX_TOKENS,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run benchmarks against an endpoint; every item is stored as it finishes."""
    console = _console()
    store = _open(db)
    try:
        wants_judge = judge is not None or judge_base_url is not None
        if resume is not None and wants_judge:
            raise UserError(
                "A resumed run keeps the judge it was started with.",
                hint="Drop --judge / --judge-base-url with --resume.",
            )
        if judge_base_url is None and (judge_model or judge_api_key_env) and judge is None:
            raise UserError("--judge-model and --judge-api-key-env need --judge-base-url.")
        judge_settings = (
            resolve_judge(
                judge,
                store=store,
                base_url=judge_base_url,
                model=judge_model,
                api_key_env=judge_api_key_env,
                max_tokens=judge_max_tokens,
            )
            if wants_judge
            else None
        )
        if resume is not None:
            target = _stored_target(store, resume)
        else:
            target = resolve_target(
                endpoint,
                store=store,
                base_url=base_url,
                model=model,
                api_key_env=api_key_env,
                reasoning=reasoning,
            )
        config = EvalConfig(
            benchmarks=_split(benchmarks),
            limit=limit,
            repeats=repeats,
            seed=seed,
            concurrency=concurrency,
            temperature=temperature,
            max_tokens=max_tokens,
            top_p=top_p,
            request_seed=request_seed,
            data_dir=str(data_dir) if data_dir else None,
            label=label,
            judge=judge_settings,
        )
        resolve_benchmarks(config.benchmarks)  # unknown names fail before any server starts
        progress = RichProgress(Console(stderr=True) if as_json else console)
        try:
            with progress:
                result = asyncio.run(
                    run_eval(store, target, config, resume_run_id=resume, progress=progress)
                )
        except KeyboardInterrupt:
            run_id = progress.run_id or resume
            console.print(
                f"[yellow]interrupted[/]: finished items are stored. Resume with: "
                f"modelatlas eval run --resume {run_id}"
            )
            raise typer.Exit(130) from None
        summary = load_summary(store, result.run_id)
        if as_json:
            _emit_json(
                {
                    **summary.model_dump(mode="json"),
                    "calls_made_now": result.calls_made,
                    "judge_calls_made_now": result.judge_calls_made,
                    "concurrency": result.concurrency,
                }
            )
            return
        render_summary(summary, console)
        conc = result.concurrency
        console.print(
            f"this invocation: {result.calls_made} calls, {result.from_cache} from cache, "
            f"{result.already_done} already done, {result.elapsed_s:.1f}s; concurrency "
            f"{conc.get('initial')} -> {conc.get('final')} (lowest {conc.get('lowest')}, "
            f"{conc.get('rate_limited_responses')} rate-limited responses)"
        )
        if config.judge is not None or result.judge_calls_made or result.judge_from_cache:
            console.print(
                f"judge this invocation: {result.judge_calls_made} calls, "
                f"{result.judge_from_cache} from cache"
            )
    finally:
        store.close()


@app.command("list")
def list_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List benchmarks and past eval runs."""
    from modelatlas.evals.registry import list_benchmarks

    benches: list[dict[str, Any]] = [
        {**b.describe(), "aliases": list(b.aliases)} for b in list_benchmarks()
    ]
    store = _open(db)
    try:
        runs = list_runs(store)
    finally:
        store.close()
    if as_json:
        _emit_json({"benchmarks": benches, "runs": runs})
        return
    console = _console()
    table = Table(title="benchmarks")
    for name in ("key", "name", "category", "version", "items", "aliases"):
        table.add_column(name)
    for b in benches:
        table.add_row(
            str(b["key"]),
            str(b["display_name"]),
            str(b["category"]),
            str(b["version"]),
            f"{b['item_count']:,}",
            ", ".join(b["aliases"]),
        )
    console.print(table)
    runs_table = Table(title="eval runs")
    for name in (
        "run",
        "endpoint",
        "status",
        "started",
        "benchmarks",
        "limit",
        "repeats",
        "answers",
    ):
        runs_table.add_column(name)
    for r in runs:
        runs_table.add_row(
            r["run_id"],
            r["endpoint"],
            r["status"] + (" (sample)" if r["sample"] else ""),
            r["started_at"].strftime("%Y-%m-%d %H:%M") if r["started_at"] else "-",
            ", ".join(r["benchmarks"]),
            str(r["limit"] or "all"),
            str(r["repeats"]),
            str(r["answers"] if r["answers"] is not None else "-"),
        )
    console.print(runs_table if runs else "no eval runs yet")


@app.command("show")
def show_command(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
    items: Annotated[bool, typer.Option("--items", help="Also list every item.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show an eval run's results (from its stored items)."""
    store = _open(db)
    try:
        summary = load_summary(store, run_id)
        rows = _item_rows(store, summary.run_id) if items else []
    finally:
        store.close()
    if as_json:
        data = summary.model_dump(mode="json")
        if items:
            data["items"] = rows
        _emit_json(data)
        return
    console = _console()
    render_summary(summary, console)
    if items:
        table = Table(title="items")
        for name in ("benchmark", "item", "rep", "score", "extracted", "target", "why", "tokens"):
            table.add_column(name)
        for r in rows:
            table.add_row(
                r["benchmark"],
                r["item_id"],
                str(r["repeat"]),
                "-" if r["score"] is None else f"{r['score']:g}",
                str(r["extracted"] or "-"),
                str(r["target"]),
                str(r["error_kind"] or r["reason"] or ""),
                str(r["output_tokens"] or 0),
            )
        console.print(table)


def _item_rows(store: Any, run_id: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from modelatlas.store.eval_tables import EvalItemRow

    with store.session() as session:
        rows = session.scalars(
            select(EvalItemRow)
            .where(EvalItemRow.run_id == run_id)
            .order_by(EvalItemRow.benchmark, EvalItemRow.item_id, EvalItemRow.repeat)
        ).all()
        return [
            {
                "benchmark": r.benchmark,
                "item_id": r.item_id,
                "repeat": r.repeat,
                "score": r.score,
                "extracted": r.extracted,
                "method": r.method,
                "target": (r.item or {}).get("target"),
                "no_answer": r.no_answer,
                "reason": r.reason,
                "error_kind": r.error_kind,
                "finish_reason": r.finish_reason,
                "output_tokens": r.output_tokens,
                "reasoning_tokens": r.reasoning_tokens,
                "cost_usd": r.cost_usd,
                "e2e_s": r.e2e_s,
                "from_cache": r.from_cache,
                "excluded": r.excluded,
                "judge": r.judge or None,
                "answer_text": r.answer_text,
            }
            for r in rows
        ]


@app.command("rescore")
def rescore_command(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-score a run's stored responses with the current scorers (no model calls; the run's
    judge is asked only for checks not in the cache)."""
    store = _open(db)
    try:
        report = rescore_run(store, run_id)
    finally:
        store.close()
    if as_json:
        _emit_json(report.model_dump(mode="json"))
        return
    console = _console()
    render_summary(report.summary, console)
    console.print(
        f"rescored {report.rescored} responses: {report.changed} changed score or extraction"
    )
    if report.summary.judge is not None:
        console.print(
            f"judge: {report.judge_calls} new calls, {report.judge_from_cache} verdicts "
            "from the cache"
        )
    for key, versions in report.versions.items():
        console.print(
            f"  {key}: scored with version {', '.join(versions[:-1])}, now {versions[-1]}"
        )
    if report.prompt_changed:
        console.print(
            f"[yellow]warning[/]: for {report.prompt_changed} items the benchmark now builds a "
            "different prompt; their stored responses answer the old prompt (re-run to compare)."
        )


def main(argv: list[str] | None = None) -> None:
    """Run this command group alone (``python -m modelatlas.evals.commands``)."""
    err = Console(stderr=True)
    try:
        app(args=argv, standalone_mode=True)
    except UserError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        if exc.hint:
            err.print(exc.hint, highlight=False, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
