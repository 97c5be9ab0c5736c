"""Core commands: database migrations, managers."""

from __future__ import annotations

import typer
from sqlalchemy import select

from bot.cli.app import app, console, print_json, run_async, settings_or_exit
from bot.db.models import Manager
from bot.workspace import migrate, open_database

manager_app = typer.Typer(help="Register and list relationship managers.", no_args_is_help=True)
app.add_typer(manager_app, name="manager")


@app.command("migrate")
def migrate_cmd(revision: str = typer.Argument("head", help="Alembic revision to upgrade to")) -> None:
    """Bring the database schema to the latest migration (same as `alembic upgrade head`)."""
    settings = settings_or_exit()
    migrate(settings.database_url, revision)
    console.print(f"Database at revision {revision}.")


@manager_app.command("add")
def manager_add(
    code: str = typer.Argument(..., help="Manager code, as in the client book's `manager` column"),
    name: str = typer.Option(..., "--name", help="Display name, e.g. 王敏"),
    telegram_id: int | None = typer.Option(None, "--telegram-id", help="Bind the manager's Telegram account"),
    admin: bool = typer.Option(False, "--admin", help="Give console admin rights"),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON"),
) -> None:
    """Register a manager, or update their name / Telegram binding."""
    from bot.services.managers import upsert_manager

    settings = settings_or_exit()

    async def _run() -> dict[str, object]:
        async with open_database(settings) as db, db.sessions() as session:
            manager, created = await upsert_manager(
                session, code=code, name=name, telegram_id=telegram_id, is_admin=admin or None
            )
            await session.commit()
            return {"id": manager.id, "code": manager.code, "name": manager.name,
                    "telegram_id": manager.telegram_id, "created": created}

    try:
        result = run_async(_run())
    except ValueError as exc:
        console.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from None
    if json_out:
        print_json(result)
    else:
        console.print(f"Manager {result['code']} ({result['name']}) {'created' if result['created'] else 'updated'}.")


@manager_app.command("list")
def manager_list(json_out: bool = typer.Option(False, "--json")) -> None:
    """List managers."""
    settings = settings_or_exit()

    async def _run() -> list[dict[str, object]]:
        async with open_database(settings) as db, db.sessions() as session:
            rows = (await session.scalars(select(Manager).order_by(Manager.code))).all()
            return [{"id": m.id, "code": m.code, "name": m.name, "telegram_id": m.telegram_id,
                     "admin": m.is_admin} for m in rows]

    rows = run_async(_run())
    if json_out:
        print_json(rows)
        return
    for row in rows:
        console.print(f"{row['id']:>4}  {row['code']:<10} {row['name']:<12} tg={row['telegram_id'] or '-'}")
