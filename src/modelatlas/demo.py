"""The main job on the embedded default: measure the bundled local model end to end.

``modelatlas demo`` starts the local llama.cpp server (SmolLM2-135M-Instruct), sends a few real
streamed requests through the endpoint client one after the other (the reference's single-request
method), stores every call in the store and prints what it measured.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from modelatlas.endpoints import local
from modelatlas.endpoints.client import ChatRequest, ClientOptions, EndpointClient, EndpointSpec
from modelatlas.endpoints.records import CallRecord
from modelatlas.store.base import Store, open_store, redact_url
from modelatlas.store.calls import call_row, finish_run, start_run

DEMO_PROMPTS: tuple[str, ...] = (
    "Explain in three sentences why the sky is blue.",
    "Write a short poem about a lighthouse.",
    "List five fruits and one fact about each.",
    "What is the capital of France? Answer in one word.",
    "Describe how a bicycle works to a ten-year-old.",
)


@dataclass(frozen=True)
class DemoResult:
    run_id: str
    records: list[tuple[str, CallRecord]]


async def measure(
    spec: EndpointSpec, prompts: Sequence[str], *, max_tokens: int
) -> list[tuple[str, CallRecord]]:
    """Send ``prompts`` one at a time (temperature 0) and return each call's record."""
    results: list[tuple[str, CallRecord]] = []
    async with EndpointClient(spec, ClientOptions(max_attempts=3)) as client:
        for prompt in prompts:
            request = ChatRequest(
                messages=[{"role": "user", "content": prompt}],
                max_tokens=max_tokens,
                temperature=0.0,
            )
            record = await client.chat(request)
            if record.error is not None and not results:
                record.raise_for_error()  # the endpoint is down: one clear message
            results.append((prompt, record))
    return results


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def render(result: DemoResult, store: Store, console: Console) -> None:
    table = Table(title=f"{local.LOCAL_ENDPOINT_SLUG}: {len(result.records)} streamed requests")
    for column, justify in (
        ("prompt", "left"),
        ("TTFT s", "right"),
        ("TTFAT s", "right"),
        ("output tok (o200k)", "right"),
        ("speed tok/s", "right"),
        ("e2e s", "right"),
        ("finish", "left"),
        ("answer (start)", "left"),
    ):
        table.add_column(column, justify=justify, no_wrap=column != "answer (start)")  # type: ignore[arg-type]
    for prompt, rec in result.records:
        answer = rec.answer.strip().replace("\n", " ")
        table.add_row(
            prompt[:24] + ("..." if len(prompt) > 24 else ""),
            _fmt(rec.ttft_s, ".3f"),
            _fmt(rec.ttfat_s, ".3f"),
            str(rec.output_tokens),
            _fmt(rec.output_speed_tps, ".1f"),
            _fmt(rec.e2e_s, ".2f"),
            rec.error.kind.value if rec.error else (rec.finish_reason or "-"),
            answer[:60] + ("..." if len(answer) > 60 else ""),
            style="red" if rec.error else None,
        )
    records = [rec for _, rec in result.records]
    table.add_section()
    table.add_row(
        "median",
        _fmt(_median([r.ttft_s for r in records]), ".3f"),
        _fmt(_median([r.ttfat_s for r in records]), ".3f"),
        _fmt(_median([float(r.output_tokens) for r in records]), ".0f"),
        _fmt(_median([r.output_speed_tps for r in records]), ".1f"),
        _fmt(_median([r.e2e_s for r in records]), ".2f"),
        "",
        "",
        style="bold",
    )
    console.print(table)
    console.print(
        "TTFT: seconds to the first streamed token; TTFAT: to the first answer token; "
        "speed: tokens after the first chunk / (last chunk - first chunk); tokens counted "
        "with tiktoken o200k_base (this server sends no usage in streams)."
    )
    console.print(f"run [bold]{result.run_id}[/] stored in {redact_url(store.url)}")


def run_demo(
    *,
    db: str | None = None,
    max_tokens: int = 128,
    eval_items: int = 2,
    eval_max_tokens: int = 384,
    perf: bool = True,
    out_dir: Path = Path("out"),
    console: Console | None = None,
) -> DemoResult:
    """Start (or reuse) the local model, measure it, run a sample of the index, print it all."""
    console = console or Console(width=None if sys.stdout.isatty() else 140)
    store = open_store(db)
    with local.running_local_server() as server:
        console.rule("1. Endpoint client: streamed requests")
        console.print(f"local model: {server.base_url} (SmolLM2-135M-Instruct Q4_1, llama.cpp)")
        spec = EndpointSpec(base_url=server.base_url, model=local.API_MODEL_ID)
        records = asyncio.run(measure(spec, DEMO_PROMPTS, max_tokens=max_tokens))
        result = _store_and_render(store, records, max_tokens, console)
        if eval_items > 0:
            console.rule("2. Intelligence: a SAMPLE of the index benchmarks")
            _sample_eval(store, eval_items, eval_max_tokens, console)
        if perf:
            console.rule("3. Speed and latency: modelatlas perf on the local model")
            _perf(store, out_dir, console)
    console.rule("4. Pages: the static site")
    _site(store, out_dir / "site", console)
    store.close()
    return result


def _site(store: Store, out: Path, console: Console) -> None:
    from modelatlas.web.site import build_site

    report = build_site(out, store)
    index = (out / "index.html").resolve()
    console.print(
        f"site: {report.models} model pages, {report.files} files in {report.seconds:.1f} s. "
        f"Open [bold]file://{index}[/] (works offline), "
        f"the local model's page at {out.resolve()}/models/smollm2-135m-instruct/index.html, "
        "or run [bold]modelatlas serve[/] and open http://127.0.0.1:8000/"
    )


#: The demo's perf runs: the reference's sequential 1k-in/1k-out workload, then a small
#: concurrency sweep (1, 2, 4 streams) on the short 100/300 workload.
DEMO_PERF_RUNS: tuple[tuple[str, list[str]], ...] = (
    (
        "perf-1k-1k-sequential",
        ["--workload", "1k-1k", "--mode", "sequential", "--requests", "2", "--warmup", "0"],
    ),
    (
        "perf-100-300-sweep",
        [
            *("--workload", "100-300", "--mode", "sweep", "--concurrency", "1"),
            *("--max-concurrency", "4", "--requests", "4", "--warmup", "0"),
        ],
    ),
)


def _perf(store: Store, out_dir: Path, console: Console) -> None:
    from modelatlas.perf.commands import app as perf_app

    for name, args in DEMO_PERF_RUNS:
        plots = out_dir / name
        console.print(f"[bold]{name}[/]: plots and JSON in {plots}/")
        perf_app(
            [
                "run",
                *("--endpoint", local.LOCAL_ENDPOINT_SLUG, "--db", store.url),
                *("--ignore-eos", "--no-progress", "--plots", str(plots)),
                *("--json-out", str(plots / "results.json")),
                *args,
            ],
            standalone_mode=False,
        )


def _sample_eval(store: Store, items: int, max_tokens: int, console: Console) -> None:
    from modelatlas.evals.commands import render_summary
    from modelatlas.evals.runner import run_sample

    console.print(
        f"{items} items of each benchmark, max_tokens {max_tokens}: a smoke run of the method, "
        "not a score to compare (the index stays incomplete and says so)."
    )
    summary = run_sample(local.LOCAL_ENDPOINT_SLUG, limit=items, store=store, max_tokens=max_tokens)
    render_summary(summary, console)


def _store_and_render(
    store: Store, records: list[tuple[str, CallRecord]], max_tokens: int, console: Console
) -> DemoResult:
    with store.session() as session:
        run = start_run(
            session,
            kind="demo",
            endpoint_slug=local.LOCAL_ENDPOINT_SLUG,
            model_slug="smollm2-135m-instruct",
            config={"max_tokens": max_tokens, "prompts": len(DEMO_PROMPTS), "mode": "sequential"},
        )
        for index, (_, record) in enumerate(records):
            session.add(
                call_row(
                    record,
                    run_id=run.id,
                    endpoint_slug=local.LOCAL_ENDPOINT_SLUG,
                    label=f"demo-{index}",
                )
            )
        finish_run(
            run,
            summary={
                "calls": len(records),
                "errors": sum(1 for _, r in records if r.error),
                "median_ttft_s": _median([r.ttft_s for _, r in records]),
                "median_output_speed_tps": _median([r.output_speed_tps for _, r in records]),
            },
        )
        run_id = run.id
    result = DemoResult(run_id=run_id, records=records)
    render(result, store, console)
    return result
