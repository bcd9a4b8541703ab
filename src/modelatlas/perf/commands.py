"""``modelatlas perf``: run, calibrate, monitor, workloads (thin shells over the package)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from modelatlas.endpoints.client import Transport
from modelatlas.errors import UserError

app = typer.Typer(
    help="Speed and latency: workloads, load modes, client calibration, monitoring.",
    no_args_is_help=True,
)


def _transport(value: str) -> Transport:
    if value in ("wire", "aiohttp"):
        return cast(Transport, value)
    raise UserError(f"Unknown --transport {value!r}.", hint="Use wire or aiohttp.")


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 140)


class _LiveProgress:
    """A rich progress bar fed by the runner (refreshed 4x a second, off the hot path)."""

    def __init__(self, progress: RichProgress) -> None:
        self.progress = progress
        self.task: Any = None

    def begin(self, description: str, total: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, visible=False)
        self.task = self.progress.add_task(description, total=total)

    def advance(self) -> None:
        if self.task is not None:
            self.progress.advance(self.task)


def _progress(console: Console, enabled: bool) -> RichProgress:
    return RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        refresh_per_second=4,
        disable=not enabled,
        transient=False,
    )


@app.command("run")
def run_cmd(
    endpoint: Annotated[
        str | None,
        typer.Option(help="Catalog endpoint slug (default local/smollm2-135m, started if needed)."),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="Any OpenAI-compatible base URL (ends before /chat).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="API model id (with --base-url).")] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the API key.")
    ] = None,
    workload: Annotated[
        str, typer.Option(help="100-300, 1k-1k, 10k-1.5k, 100k-2k, vision, or IN-OUT.")
    ] = "1k-1k",
    prompts_file: Annotated[
        Path | None, typer.Option(help="JSONL prompts ({'prompt'|'messages', 'max_tokens'?}).")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="max_tokens for prompt-file rows that set none.")
    ] = None,
    prefix_nonce: Annotated[
        bool, typer.Option(help="Prefix prompt-file prompts with a seeded nonce.")
    ] = False,
    mode: Annotated[
        str, typer.Option(help="sequential|concurrency|rate|sweep|slo.")
    ] = "sequential",
    concurrency: Annotated[
        int,
        typer.Option(help="Streams (concurrency); start level (sweep/slo); cap (rate, 0=none)."),
    ] = 1,
    rate: Annotated[float | None, typer.Option(help="Requests per second (rate mode).")] = None,
    arrival: Annotated[str, typer.Option(help="constant|poisson (rate mode).")] = "poisson",
    requests: Annotated[int, typer.Option(help="Measured requests (per level in sweep/slo).")] = 5,
    warmup: Annotated[int, typer.Option(help="Warm-up requests, excluded (per level).")] = 1,
    seed: Annotated[int, typer.Option(help="Seed for prompts and arrivals.")] = 0,
    processes: Annotated[int, typer.Option(help="Client processes (results merged).")] = 1,
    transport: Annotated[
        str,
        typer.Option(
            help="Client HTTP transport: wire (HTTP/1.1, stamps bytes in the socket callback; "
            "fastest) or aiohttp (the general client, as evals and `call` use)."
        ),
    ] = "wire",
    ignore_eos: Annotated[
        bool,
        typer.Option(
            help="Send ignore_eos=true (vLLM, SGLang, llama.cpp's native server); on the "
            "embedded model, also a logit_bias banning its end-of-turn tokens."
        ),
    ] = False,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    ramp_up: Annotated[
        float, typer.Option(help="Stagger closed-loop streams' first sends over this many s.")
    ] = 0.0,
    max_concurrency: Annotated[
        int, typer.Option(help="Highest level of a sweep/SLO search.")
    ] = 256,
    slo: Annotated[
        list[str] | None,
        typer.Option(help="SLO, repeatable: METRIC:STAT<=X, e.g. 'ttft_s:p99<=2'."),
    ] = None,
    slo_target: Annotated[
        str, typer.Option(help="concurrency|rate: what the SLO search varies.")
    ] = ("concurrency"),
    timeout: Annotated[float, typer.Option(help="Per-request total timeout, seconds.")] = 600.0,
    json_out: Annotated[Path | None, typer.Option(help="Write requests + summary as JSON.")] = None,
    plots: Annotated[Path | None, typer.Option(help="Write SVG plots and index.html here.")] = None,
    db: Annotated[str | None, typer.Option(help="Database URL or SQLite path.")] = None,
    store: Annotated[bool, typer.Option(help="Store the run and its calls.")] = True,
    progress: Annotated[bool, typer.Option(help="Show live progress.")] = True,
) -> None:
    """Measure an endpoint: TTFT, TTFAT, output speed, e2e, TPOT, ITL under a load mode."""
    from modelatlas.perf.plots import run_plots, sweep_plots, write_plots
    from modelatlas.perf.report import print_summary, store_run, write_json
    from modelatlas.perf.search import parse_slo
    from modelatlas.perf.session import PerfJob, execute
    from modelatlas.perf.targets import open_target
    from modelatlas.perf.workloads import RequestOptions, get_workload

    if mode not in ("sequential", "concurrency", "rate", "sweep", "slo"):
        raise UserError(
            f"Unknown --mode {mode!r}.", hint="Use sequential, concurrency, rate, sweep or slo."
        )
    if arrival not in ("constant", "poisson"):
        raise UserError(f"Unknown --arrival {arrival!r}.", hint="Use constant or poisson.")
    if slo_target not in ("concurrency", "rate"):
        raise UserError(f"Unknown --slo-target {slo_target!r}.", hint="Use concurrency or rate.")
    if processes < 1:
        raise UserError("--processes must be at least 1.")
    job = PerfJob(
        workload=None if prompts_file else get_workload(workload),
        prompts_file=prompts_file,
        mode=mode,  # type: ignore[arg-type]
        concurrency=concurrency,
        rate=rate,
        arrival=arrival,  # type: ignore[arg-type]
        requests=requests,
        warmup=warmup,
        seed=seed,
        processes=processes,
        transport=_transport(transport),
        options=RequestOptions(ignore_eos=ignore_eos, temperature=temperature),
        max_tokens=max_tokens,
        prefix_nonce=prefix_nonce,
        slos=[parse_slo(s) for s in slo or []],
        slo_target=slo_target,  # type: ignore[arg-type]
        max_concurrency=max_concurrency,
        ramp_up_s=ramp_up,
        timeout_s=timeout,
    )
    console = _console()
    opened = None
    if store:
        from modelatlas.store.base import open_store

        opened = open_store(db)  # fail early on a bad database, before any load
    with open_target(endpoint, base_url=base_url, model=model, api_key_env=api_key_env) as target:
        console.print(
            f"perf: [bold]{target.slug}[/] ({target.spec.base_url}, model {target.spec.model}), "
            f"workload {job.label}, mode {job.mode}",
            highlight=False,
        )
        with _progress(console, progress) as bar:
            outcome = execute(target, job, progress=_LiveProgress(bar))
    title = f"{target.slug} | {job.label} | {job.mode}"
    if outcome.levels:
        _print_levels(console, outcome.summary)
    print_summary(console, outcome.summary, title=title, warnings=outcome.warnings)
    if json_out is not None:
        write_json(json_out, outcome.requests, outcome.summary)
        console.print(f"wrote {json_out}")
    if plots is not None:
        svgs = run_plots(outcome.requests)
        if outcome.levels:
            x_label = (
                "requests per second"
                if job.slo_target == "rate" and mode == "slo"
                else "concurrency"
            )
            svgs.update(sweep_plots(outcome.summary["levels"], x_label=x_label))
        written = write_plots(plots, svgs, title=title)
        console.print(f"wrote {len(written)} plot files to {plots}")
    if opened is not None:
        run_id = store_run(
            opened,
            endpoint_slug=target.slug,
            model_slug=target.model_slug,
            config=job.config(),
            summary=outcome.summary,
            records=outcome.records,
            requests=outcome.requests,
            planned=outcome.planned,
        )
        console.print(f"run [bold]{run_id}[/] stored")
        opened.close()


def _print_levels(console: Console, summary: dict[str, Any]) -> None:
    table = Table(title="per level", title_justify="left")
    for col in (
        "level",
        "n",
        "err",
        "TTFT p50",
        "TTFT p99",
        "e2e p50",
        "speed p50",
        "tok/s",
        "good",
    ):
        table.add_column(col, justify="right")

    def get(s: dict[str, Any], a: str, b: str, spec: str) -> str:
        v = (s.get(a) or {}).get(b)
        return "-" if v is None else format(v, spec)

    for s in summary.get("levels", []):
        good = (s.get("goodput") or {}).get("good_fraction")
        table.add_row(
            f"{s['level']:g}",
            str(s.get("count")),
            str(s.get("errors")),
            get(s, "ttft_s", "p50", ".3f"),
            get(s, "ttft_s", "p99", ".3f"),
            get(s, "e2e_s", "p50", ".2f"),
            get(s, "output_speed_tps", "p50", ".1f"),
            get(s, "throughput", "output_tokens_per_s", ",.0f"),
            "-" if good is None else f"{good:.0%}",
        )
    console.print(table)
    for key in ("sweep", "slo"):
        if key in summary:
            console.print(f"{key}: {json.dumps(summary[key], default=str)}", highlight=False)


@app.command("calibrate")
def calibrate_cmd(
    levels: Annotated[
        str, typer.Option(help="Concurrency levels, comma-separated.")
    ] = "1,16,64,256",
    output_tokens: Annotated[int, typer.Option(help="Output tokens per request.")] = 100,
    ttft_s: Annotated[float, typer.Option(help="Simulated TTFT.")] = 0.05,
    itl_s: Annotated[float, typer.Option(help="Simulated seconds between chunks.")] = 0.02,
    tokens_per_chunk: Annotated[int, typer.Option(help="Simulated tokens per chunk.")] = 4,
    processes: Annotated[int, typer.Option(help="Client processes.")] = 1,
    transport: Annotated[
        str, typer.Option(help="Client HTTP transport to measure: wire or aiohttp.")
    ] = "wire",
    save: Annotated[
        bool, typer.Option(help="Store in MODELATLAS_HOME/perf-calibration.json.")
    ] = True,
    json_out: Annotated[Path | None, typer.Option(help="Also write the calibration here.")] = None,
) -> None:
    """Measure this machine's client ceiling against the simulated endpoint."""
    from modelatlas.endpoints.sim import SimConfig
    from modelatlas.perf.calibrate import CalibrationLevel, calibrate, save_calibration

    try:
        level_list = [int(x) for x in levels.split(",") if x.strip()]
    except ValueError as exc:
        raise UserError(f"--levels must be integers separated by commas (got {levels!r}).") from exc
    if not level_list or min(level_list) < 1:
        raise UserError(f"--levels must be positive integers (got {levels!r}).")
    checked_transport = _transport(transport)
    console = _console()
    sim = SimConfig(ttft_s=ttft_s, itl_s=itl_s, tokens_per_chunk=tokens_per_chunk)
    table = Table(title="client calibration against the simulated endpoint", title_justify="left")
    for col in (
        "streams", "req", "err", "chunks/s", "tok/s", "TTFT err p50", "TTFT err p99",
        "vs server p50", "arrival lag p50", "speed err", "sim late p50", "ok",
    ):  # fmt: skip
        table.add_column(col, justify="right")

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v * 1000:.2f} ms"

    def show(level: CalibrationLevel) -> None:
        a = level.accuracy
        table.add_row(
            str(level.concurrency),
            str(level.requests),
            str(level.errors),
            f"{level.chunks_per_s or 0:,.0f}",
            f"{level.tokens_per_s or 0:,.0f}",
            ms(a.ttft_err_p50_s),
            ms(a.ttft_err_p99_s),
            ms(a.ttft_vs_server_err_p50_s),
            ms(a.arrival_lag_p50_s),
            "-" if a.speed_median_err is None else f"{a.speed_median_err:+.2%}",
            ms(a.sim_late_p50_s),
            "yes" if level.within_tolerance else "NO",
        )
        console.print(
            f"  {level.concurrency} streams: TTFT err p50 {ms(a.ttft_err_p50_s)}", highlight=False
        )

    result = calibrate(
        level_list,
        sim=sim,
        output_tokens=output_tokens,
        processes=processes,
        transport=checked_transport,
        on_level=show,
    )
    console.print(table)
    console.print(
        f"ceiling: {result.ceiling_concurrency} streams, "
        f"{result.ceiling_chunks_per_s or 0:,.0f} chunks/s and "
        f"{result.ceiling_tokens_per_s or 0:,.0f} tok/s per process "
        f"(TTFT error and TTFT vs server <= {result.ttft_tol_s * 1000:g} ms, speed error <= "
        f"{result.speed_tol:.0%}; {result.transport} transport, loop {result.machine.get('loop')})",
        highlight=False,
    )
    if result.limited_by == "simulator":
        console.print(
            "The next level failed because the simulator itself fell behind its schedule "
            "(sim late p50): this machine's client ceiling is at least this high.",
            highlight=False,
        )
    if save:
        path = save_calibration(result)
        console.print(f"saved {path}")
    if json_out is not None:
        save_calibration(result, json_out)


@app.command("monitor")
def monitor_cmd(
    endpoint: Annotated[
        list[str] | None, typer.Option(help="Endpoint slug, repeatable (default local).")
    ] = None,
    workload: Annotated[list[str] | None, typer.Option(help="Workload, repeatable.")] = None,
    config: Annotated[Path | None, typer.Option(help="Monitor TOML file.")] = None,
    requests: Annotated[int | None, typer.Option(help="Requests per workload per tick.")] = None,
    interval_hours: Annotated[float | None, typer.Option(help="Hours between ticks (3).")] = None,
    window_hours: Annotated[float | None, typer.Option(help="Rolling window (72 h).")] = None,
    once: Annotated[bool, typer.Option(help="Run a single tick and exit.")] = False,
    figures_only: Annotated[bool, typer.Option(help="Only print the current figures.")] = False,
    db: Annotated[str | None, typer.Option(help="Database URL or SQLite path.")] = None,
    json_out: Annotated[Path | None, typer.Option(help="Write the figures as JSON.")] = None,
) -> None:
    """Measure endpoints on a schedule; print rolling-window median figures."""
    from modelatlas.perf.monitor import (
        MonitorConfig,
        TickResult,
        figures,
        model_figures,
        run_forever,
    )
    from modelatlas.perf.monitor import tick as run_tick
    from modelatlas.store.base import open_store

    cfg = MonitorConfig.from_file(config) if config else MonitorConfig()
    if endpoint:
        cfg.endpoints = list(endpoint)
    if workload:
        cfg.workloads = list(workload)
    if requests is not None:
        cfg.requests = requests
    if interval_hours is not None:
        cfg.interval_s = interval_hours * 3600
    if window_hours is not None:
        cfg.window_s = window_hours * 3600
    console = _console()
    store = open_store(db)

    def report(result: TickResult | None) -> None:
        if result is not None:
            for failure in result.failures:
                console.print(f"[bold yellow]warning:[/] {failure}", highlight=False)
        rows = figures(store, window_s=cfg.window_s)
        table = Table(title=f"median over the last {cfg.window_s / 3600:g} h", title_justify="left")
        for col in (
            "endpoint",
            "workload",
            "runs",
            "TTFT s",
            "TTFAT s",
            "tok/s",
            "e2e s",
            "e2e 500 s",
        ):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r["endpoint"],
                r["workload"],
                str(r["runs"]),
                *(
                    "-" if r[k] is None else format(r[k], spec)
                    for k, spec in (
                        ("ttft_s", ".3f"),
                        ("ttfat_s", ".3f"),
                        ("output_speed_tps", ".1f"),
                        ("e2e_s", ".2f"),
                        ("e2e_500_s", ".2f"),
                    )
                ),
            )
        console.print(table)
        if json_out is not None:
            json_out.write_text(
                json.dumps({"endpoints": rows, "models": model_figures(rows)}, indent=2) + "\n"
            )

    if figures_only:
        report(None)
    elif once:
        report(run_tick(cfg, store))
    else:
        console.print(
            f"monitoring {', '.join(cfg.endpoints)} with {', '.join(cfg.workloads)} every "
            f"{cfg.interval_s / 3600:g} h (Ctrl-C to stop)"
        )
        try:
            run_forever(cfg, store, on_tick=report)
        except KeyboardInterrupt:
            console.print("stopped")
    store.close()


@app.command("workloads")
def workloads_cmd() -> None:
    """List the built-in workloads."""
    from modelatlas.perf.workloads import BUILTIN_WORKLOADS

    table = Table()
    for col in ("name", "input tokens", "output tokens", "image", "description"):
        table.add_column(col)
    for w in BUILTIN_WORKLOADS.values():
        table.add_row(
            w.name,
            str(w.input_tokens),
            str(w.output_tokens),
            "yes" if w.image else "",
            w.description,
        )
    _console().print(table)
