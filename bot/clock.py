"""What time it is: a clock, injected, never a global.

A clock is any function returning the current time as an aware UTC datetime (`system_clock` in the service). It
travels with the database: `Database.with_clock(clock)` (bot/workspace.py) binds the sessions to an engine that
carries it, so that every service asks the session it works on (`now(session)`) and every column default (`stamp`)
asks the engine running the INSERT or UPDATE. Nothing else changes the time. The simulation (tools/simulate.py)
opens the workspace with a clock it moves through the replayed days, and the records it writes carry those days.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.engine.interfaces import ExecutionContext
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

Clock = Callable[[], datetime]
_OPTION = "rmbot_clock"  # the engine's execution option that carries the clock


def system_clock() -> datetime:
    return datetime.now(UTC)


def with_clock(engine: AsyncEngine, clock: Clock) -> AsyncEngine:
    """The same engine (the same pool) whose statements and sessions read `clock`."""
    return engine.execution_options(**{_OPTION: clock})


def clock_of(bind: AsyncEngine | AsyncConnection | None) -> Clock:
    """The clock an engine (or a connection's engine) carries; the system's when none."""
    engine = bind.engine if isinstance(bind, AsyncConnection) else bind
    clock: Clock | None = engine.get_execution_options().get(_OPTION) if engine is not None else None
    return clock or system_clock


def now(session: AsyncSession) -> datetime:
    """The time for the session's work: its engine's clock (the system's unless the workspace was given one)."""
    return clock_of(session.bind)()


def stamp(context: ExecutionContext) -> datetime:
    """Column default (`created_at`, `updated_at`...): the clock of the engine running the statement."""
    clock: Clock | None = context.execution_options.get(_OPTION)
    return (clock or system_clock)()
