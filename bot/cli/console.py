"""`rmbot console-link`: a one-time sign-in link for the web console (valid 10 minutes)."""

from __future__ import annotations

import typer

from bot.cli.app import app, console, print_json, run_async, settings_or_exit
from bot.workspace import open_database


@app.command("console-link")
def console_link(
    manager: str = typer.Option(..., "--manager", help="Manager id or code"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Print a one-time sign-in link to the web console for a manager."""
    from bot.services.auth import AuthError, create_login_link, login_url
    from bot.services.managers import resolve_manager

    settings = settings_or_exit()

    async def _run() -> str:
        async with open_database(settings) as db, db.sessions() as session:
            found = await resolve_manager(session, manager)
            if found is None:
                console.print(f"[red]Error:[/red] no manager {manager!r} (see `rmbot manager list`)")
                raise typer.Exit(1)
            try:
                token = await create_login_link(session, found)
            except AuthError as exc:
                console.print(f"[red]Error:[/red] {exc}")
                raise typer.Exit(1) from None
            await session.commit()
            return token

    token = run_async(_run())
    link = login_url(settings, token)
    if json_out:
        print_json({"link": link, "token": token, "expires_in_s": 600})
    else:
        console.print(f"Open within 10 minutes (single use): {link}")
