"""`rmbot eval intents FILE` (the understanding step's quality on a labelled file), `rmbot bench
intents` (its cost per message) and `rmbot bench urgent` (a burst of urgent and ordinary customers
through the Bot API emulator)."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import typer

from bot.cli.app import console, print_json
from bot.cli.bench import bench_app
from bot.cli.knowledge import eval_app


@eval_app.command("intents")
def eval_intents(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV: text,lang,intent[,kind]"),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    misses: bool = typer.Option(False, "--misses", help="Also list the messages it got wrong."),
) -> None:
    """Per-intent precision and recall, urgent recall per language, ordinary messages escalated."""
    from knowledge.intent_eval import evaluate, load_labelled
    from knowledge.understanding import Understanding

    try:
        rows = load_labelled(file)
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        console.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from None
    result = evaluate(Understanding.load(), rows)
    if not misses:
        result.pop("misses")
    if as_json:
        print_json(result)
        return
    for key, value in result.items():
        typer.echo(f"{key}: {json.dumps(value, ensure_ascii=False)}")


@bench_app.command("intents")
def bench_intents(
    file: Path = typer.Option(None, "--file", help="Messages to classify (CSV with a text column); default: the "
                                                   "project's held-out set"),
    rounds: int = typer.Option(5, "--rounds", min=1, help="Passes over the messages"),
) -> None:
    """The understanding step's cost per message, in process (p50 / p95 / max, ms)."""
    import csv
    import io

    from knowledge.understanding import Understanding

    path = file or Path(__file__).resolve().parents[2] / "tests" / "customer" / "data" / "intents_heldout.csv"
    if not path.exists():
        console.print(f"[red]Error:[/red] {path} not found (give --file)")
        raise typer.Exit(1)
    texts = [r["text"] for r in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))) if r.get("text")]
    started = time.perf_counter()
    understanding = Understanding.load()
    ready_s = time.perf_counter() - started
    times, cpu = [], []
    for _ in range(rounds):
        for text in texts:
            t0, c0 = time.perf_counter(), time.thread_time()
            understanding.classify(text)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
    times.sort()
    p, c = statistics.quantiles(times, n=100), statistics.quantiles(cpu, n=100)
    # wall time includes waiting for a busy CPU; thread CPU time is the step's own cost
    console.print(f"{len(times)} classifications of {len(texts)} messages; ready in {ready_s:.2f} s; "
                  f"wall p50 {p[49]:.3f} ms, p95 {p[94]:.3f} ms, max {times[-1]:.3f} ms; "
                  f"CPU p50 {c[49]:.3f} ms, p95 {c[94]:.3f} ms")


@bench_app.command("urgent")
def bench_urgent(
    urgent: int = typer.Option(80, "--urgent", min=0, help="Customers in trouble (lost cards, fraud, scams)"),
    ordinary: int = typer.Option(60, "--ordinary", min=0, help="Customers with ordinary questions"),
    seconds: float = typer.Option(60.0, "--seconds", help="All messages arrive within this window"),
    emulator: Path = typer.Option(Path("../shared/tg_emulator/server.py"), "--emulator",
                                  help="The Bot API emulator's server.py"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Distinct customers write within a minute through the emulator to `rmbot run`; prints the p95 of
    each customer's first reply, hotline share, alerts delivered to the manager/admins and 429s."""
    import tempfile

    from bot.cli.app import dev_tool, run_async

    run_urgent = dev_tool("tools.bench.urgent").run_urgent

    if not emulator.exists():
        console.print(f"[red]Error:[/red] {emulator} not found (--emulator)")
        raise typer.Exit(1)
    docs = dev_tool("tools.demo").DEMO_DOCS
    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = run_async(run_urgent(urgent=urgent, ordinary=ordinary, seconds=seconds, emulator=emulator,
                                          workdir=Path(tmp), docs=docs))
        except RuntimeError as exc:
            console.print(f"[red]Error:[/red] {exc}")
            raise typer.Exit(1) from None
    if json_out:
        print_json(result)
        return
    for key, value in result.items():
        console.print(f"{key}: {json.dumps(value, ensure_ascii=False)}")
