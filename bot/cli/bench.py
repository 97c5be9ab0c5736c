"""`rmbot bench ...`: benchmarks. Each owner adds a command to `bench_app`
(`from bot.cli.bench import bench_app`); they print figures, they never assert on time."""

from __future__ import annotations

import typer

from bot.cli.app import app

bench_app = typer.Typer(help="Benchmarks: print throughput and timings.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
