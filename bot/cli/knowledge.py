"""Knowledge-base commands: `rmbot ingest`, `rmbot kb list|remove`, `rmbot ask`,
`rmbot eval retrieval`, `rmbot bench retrieval`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from bot.cli.app import app, console, dev_tool, print_json, run_async, settings_or_exit
from bot.cli.bench import bench_app

kb_app = typer.Typer(help="Knowledge base: list and remove documents.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
eval_app = typer.Typer(help="Evaluations: print quality figures.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


curated_app = typer.Typer(help="Approved answers (标准话术): given word for word to close paraphrases.",
                          no_args_is_help=True)
kb_app.add_typer(curated_app, name="curated")


@asynccontextmanager
async def knowledge_and_db(*, use_llm: bool = True) -> AsyncIterator[tuple[Any, Any]]:
    from bot.services.documents import SqlDocumentRegistry
    from bot.workspace import open_database
    from knowledge import build_knowledge_service

    settings = settings_or_exit()
    async with open_database(settings) as db:
        service = build_knowledge_service(settings, SqlDocumentRegistry(db.sessions), use_llm=use_llm)
        await service.start()
        yield service, db


@asynccontextmanager
async def knowledge_service(*, use_llm: bool = True) -> AsyncIterator[Any]:
    async with knowledge_and_db(use_llm=use_llm) as (service, _db):
        yield service


@curated_app.command("add")
def curated_add(
    question: str = typer.Argument(..., help="The customer's question."),
    answer: str = typer.Argument(..., help="The approved answer, given word for word."),
    source: str = typer.Option("", "--source", help="Where the wording comes from (shown as the source)."),
    by: str = typer.Option("cli", "--by", help="Who approves it (audit log)."),
) -> None:
    """Add an approved answer, or replace the one of the same question (audited)."""
    from bot.services import audit
    from knowledge.curated import CuratedError

    async def run() -> Any:
        async with knowledge_and_db(use_llm=False) as (svc, db):
            saved = await svc.save_curated(question, answer, source=source, by=by)
            async with db.sessions() as session:
                audit.record(session, actor=by, action="curated_save", entity="curated_answer", entity_id=saved.id,
                             details={"question": saved.question, "answer": saved.answer, "source": saved.source})
                await session.commit()
            return saved

    try:
        saved = run_async(run())
    except CuratedError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"saved {saved.id}: {saved.question}")


@curated_app.command("list")
def curated_list(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The approved answers."""

    async def run() -> Any:
        async with knowledge_service(use_llm=False) as svc:
            return await svc.list_curated()

    items = run_async(run())
    if as_json:
        print_json([c.as_dict() for c in items])
        return
    table = Table("id", "question", "answer", "source", "by")
    for c in items:
        table.add_row(c.id, c.question[:40], c.answer[:60], c.source[:30], c.updated_by or "")
    console.print(table)


@curated_app.command("remove")
def curated_remove(
    item_id: str = typer.Argument(..., help="Id as `kb curated list` shows it."),
    by: str = typer.Option("cli", "--by", help="Who removes it (audit log)."),
) -> None:
    """Remove an approved answer (audited)."""
    from bot.services import audit

    async def run() -> bool:
        async with knowledge_and_db(use_llm=False) as (svc, db):
            removed = await svc.remove_curated(item_id)
            if removed:
                async with db.sessions() as session:
                    audit.record(session, actor=by, action="curated_remove", entity="curated_answer",
                                 entity_id=item_id)
                    await session.commit()
            return bool(removed)

    if not run_async(run()):
        console.print(f"[red]{item_id}: no such approved answer[/red]")
        raise typer.Exit(1)
    console.print(f"removed {item_id}")


@app.command("ingest")
def ingest(
    paths: list[Path] = typer.Argument(..., help="Files and folders to load (folders are walked)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    loaded_by: str = typer.Option("cli", "--by", help="Who loads the files (stored in the registry)."),
) -> None:
    """Load knowledge files; a changed file replaces its previous version, an unchanged one is skipped."""
    from knowledge.service import expand_paths

    files = expand_paths(paths)

    async def run() -> Any:
        async with knowledge_service(use_llm=False) as svc:
            with Progress(
                TextColumn("[bold]ingest[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
                console=console, transient=as_json, disable=as_json,
            ) as bar:
                task = bar.add_task("", total=len(files))

                def step(item: Any) -> None:
                    bar.update(task, advance=1, description=item.file)

                return await svc.ingest(files, loaded_by=loaded_by, progress=step)

    report = run_async(run())
    if as_json:
        print_json(report.as_dict())
    else:
        for item in report.items:
            colour = {"loaded": "green", "replaced": "cyan", "unchanged": "dim", "failed": "red"}[item.status]
            detail = item.reason if item.status == "failed" else f"v{item.version}, {item.chunks} chunks"
            console.print(f"[{colour}]{item.status:9}[/{colour}] {item.file}  {detail}")
        console.print(
            f"loaded {len(report.loaded)}, replaced {len(report.replaced)}, "
            f"unchanged {len(report.unchanged)}, failed {len(report.failed)}"
        )
    if report.failed:
        raise typer.Exit(1)


@kb_app.command("list")
def kb_list(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Documents in the knowledge base, with version, chunks, pages, who loaded them and when."""

    async def run() -> Any:
        async with knowledge_service(use_llm=False) as svc:
            return await svc.documents()

    records = run_async(run())
    if as_json:
        print_json([r.as_dict() for r in records])
        return
    table = Table("name", "title", "version", "chunks", "pages", "lang", "loaded by", "updated")
    for r in records:
        table.add_row(r.name, r.title[:40], str(r.version), str(r.chunk_count), str(r.pages), r.language or "",
                      r.loaded_by or "", r.updated_at.strftime("%Y-%m-%d %H:%M") if r.updated_at else "")
    console.print(table)


@kb_app.command("remove")
def kb_remove(name: str = typer.Argument(..., help="Document name (file name) as `kb list` shows it.")) -> None:
    """Remove a document and all its chunks."""

    async def run() -> Any:
        async with knowledge_service(use_llm=False) as svc:
            return await svc.remove(name)

    record = run_async(run())
    if record is None:
        console.print(f"[red]{name}: no such document in the knowledge base[/red]")
        raise typer.Exit(1)
    console.print(f"removed {record.name} (v{record.version}, {record.chunk_count} chunks)")


@app.command("ask")
def ask(
    question: str = typer.Argument(..., help="The customer's question."),
    lang: str = typer.Option("", "--lang", help="zh or en; detected when empty."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Answer a question from the knowledge base, with sources (or decline and offer the manager)."""

    async def run() -> Any:
        async with knowledge_service() as svc:
            return await svc.ask(question, lang=lang or None)

    answer = run_async(run())
    if as_json:
        data = answer.as_dict()
        print_json({k: data[k] for k in ("answer", "sources", "grounded", "handoff", "prompt_id", "prompt_hash")})
        return
    typer.echo(answer.text)
    for s in answer.sources:
        typer.echo(f"  - {s.doc} | {s.title} | {s.section} | {s.score:.4f}")
    typer.echo(f"grounded={answer.grounded} handoff={answer.handoff}")


@eval_app.command("retrieval")
def eval_retrieval(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Questions, JSON lines (kb_eval format)."),
    k: int = typer.Option(5, "--k", min=1, help="k of hit@k."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    predictions: Path | None = typer.Option(None, "--predictions", help="Write one prediction per question."),
    traps: Path | None = typer.Option(None, "--traps", help="Optional must-not-match file (dev_traps.json)."),
) -> None:
    """Score the knowledge base on a question file (load the corpus with `rmbot ingest` first)."""
    from knowledge.evaluation import load_questions, predict, score

    questions = load_questions(file)
    trap_data = json.loads(traps.read_text(encoding="utf-8")) if traps else None

    async def run() -> Any:
        async with knowledge_service() as svc:
            return await predict(svc, questions)

    preds = run_async(run())
    if predictions:
        with predictions.open("w", encoding="utf-8") as fh:
            for p in preds:
                fh.write(json.dumps(p, ensure_ascii=False) + "\n")
    result = score(questions, preds, k=k, traps=trap_data)
    out = {
        "hit@1": result["hit@1"],
        f"hit@{k}": result["hit@k"],
        "mrr": result["mrr"],
        "answered_rate": result["answered_rate"],
        "declined_rate": result["declined_rate"],
        "facts_rate": result["facts_rate"],
        "questions": result["questions"],
        "answerable": result["answerable"],
        "false_decline_rate": result["false_decline_rate"],
    }
    if trap_data is not None:
        out["trap_violations"] = result["trap_violations"]
    if as_json:
        print_json(out)
    else:
        for key, value in out.items():
            typer.echo(f"{key}: {value}")


@eval_app.command("answers")
def eval_answers(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Questions, JSON lines (kb_eval format)."),
    corpus: list[Path] = typer.Option(None, "--corpus", help="Answer from these documents in a temporary store "
                                      "(default: the configured knowledge base)."),
    as_json: bool = typer.Option(False, "--json", help="Print every reply and the figures as JSON."),
) -> None:
    """Every reply as the customer reads it, and the figures: fact present, false decline, correct
    decline, language match, answer first, distinct sources."""
    from knowledge.evaluation import answer_figures, evaluate_answers, load_questions

    questions = load_questions(file)

    async def run() -> Any:
        if corpus:
            import tempfile

            from knowledge import MemoryRegistry, build_knowledge_service

            with tempfile.TemporaryDirectory(prefix="rmbot-eval-") as tmp:
                svc = build_knowledge_service(settings_or_exit(), MemoryRegistry(), chroma_path=Path(tmp) / "c",
                                              chroma_url="", use_llm=False)
                await svc.ingest(list(corpus))
                return await evaluate_answers(svc, questions)
        async with knowledge_service() as svc:
            return await evaluate_answers(svc, questions)

    records = run_async(run())
    figures = answer_figures(records)
    if as_json:
        print_json({"figures": figures, "answers": records})
        return
    for r in records:
        typer.echo(f"--- {r['id']} [{r['kind']}, {r['lang']}] {r['question']}\n{r['reply']}")
    for key, value in figures.items():
        typer.echo(f"{key}: {value}")


@bench_app.command("retrieval")
def bench_retrieval(
    chunks: int = typer.Option(20_000, "--chunks", min=100, help="Chunks in the index while timing."),
    rounds: int = typer.Option(5, "--rounds", min=1, help="Times each query is asked."),
    corpus: list[Path] = typer.Option(None, "--corpus", help="Documents to ingest (default: the demo documents)."),
    embedding: str = typer.Option("", "--embedding", help="e5 (default), use, lexical, hash."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Retrieval p50/p95 latency with N chunks in the index, and ingestion pages per second."""
    run_retrieval_bench = dev_tool("tools.bench.knowledge").run_retrieval_bench

    with Progress(TextColumn("[bold]filling index[/bold]"), BarColumn(), MofNCompleteColumn(), console=console,
                  transient=True, disable=as_json) as bar:
        task = bar.add_task("", total=chunks)
        result = run_async(run_retrieval_bench(
            chunks=chunks, rounds=rounds, corpus=list(corpus) if corpus else None, embedding=embedding or None,
            progress=lambda n: bar.update(task, advance=n),
        ))
    if as_json:
        print_json(result)
    else:
        for key, value in result.items():
            typer.echo(f"{key}: {value}")
