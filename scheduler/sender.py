"""The sending loop: take due outbox rows, re-check the bank's rules, send within Telegram's limits.

Per message: the rules are checked again right before the send (`bot.services.rules.send_problem`,
then the compliance gate `bot.services.compliance.send_findings` on the approved text with the
rules as they are now): an opt-out, a withdrawn consent, a block, a cap, a blocking compliance
finding or a product no longer suitable since approval cancels the message with the reason;
quiet hours postpone it to the client's next allowed time (an approved reminder is not dropped
because the sender was late). Telegram's answers:

- 429: every sender pauses for `retry_after` (shared through the limiter); the row is re-queued
  without counting an attempt;
- 5xx, network errors, timeouts: retried with exponential backoff and jitter, up to MAX_ATTEMPTS;
- 403 (the user blocked the bot): the client is marked blocked and every waiting message to them
  is cancelled;
- 400 (chat not found, bad text...): failed with Telegram's description.

Database trouble (another process holding the SQLite lock, PostgreSQL restarting) never ends the
loop: it waits with backoff and tries again (`bot.db.retry`), `/readyz` shows "sender" as waiting,
and rows in hand stay leased until written or their lease expires, so none is lost.

Crash safety: rows are leased, not deleted; a killed sender's rows return to the queue when their
lease expires. A message whose request was in flight at the kill may be sent twice (Telegram has
no idempotency key); that window is the requests in flight, at most `concurrency` messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import defaultdict
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup, Message
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import clock, metrics
from bot.db.models import Client, Ticket
from bot.db.retry import PartsHealth, backoff, is_transient, retry_transient
from bot.services import audit, compliance, consent, notices, outbox, rules
from bot.services.outbox import MAX_ATTEMPTS, Claimed
from bot.settings import Settings
from bot.workspace import Database
from scheduler.ratelimit import Limiter, build_limiter

log = logging.getLogger(__name__)


class Sender:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        bot: Bot,
        limiter: Limiter,
        *,
        worker: str | None = None,
        batch: int = 100,
        concurrency: int = 40,
        lease_s: float = 60.0,
        idle_s: float = 0.5,
        notice_markup: Callable[[int, str], InlineKeyboardMarkup] | None = None,
        health: PartsHealth | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.bot = bot
        self.limiter = limiter
        self.worker = worker or f"{socket.gethostname()}-{os.getpid()}"
        self.batch = batch
        self.lease_s = lease_s
        self.idle_s = idle_s
        self.notice_markup = notice_markup  # the buttons under a ticket notice (built by the app)
        self._slots = asyncio.Semaphore(concurrency)
        self._chat_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._chat_last: dict[int, float] = {}
        self.stats: dict[str, int] = defaultdict(int)
        self._stop = asyncio.Event()
        self.health = health or PartsHealth()

    async def _write(self, fn: Callable[[], Awaitable[None]]) -> None:
        """A bookkeeping write after a send: retried through a passing lock, so the row is not sent twice."""
        await retry_transient("sender", fn, health=self.health, attempts=8)

    async def run(self, stop: asyncio.Event, *, until_idle: bool = False) -> None:
        """Send until `stop` is set; then finish the sends in flight, put the other rows in hand
        back in the queue, and return. With `until_idle`, also return once nothing is due and nothing is in
        flight (one pass over the queue: tests, and a worker's catch-up run)."""
        self._stop = stop
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()
        last_recovery = 0.0
        failures = 0
        while not stop.is_set():
            try:
                last_recovery, claimed = await self._claim(loop.time(), last_recovery, self.batch - len(tasks))
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self.health.failing("sender", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff(failures))
                failures += 1
                continue
            if failures:
                failures = 0
                self.health.recovered("sender")
            for item, siblings in _fold_notices(claimed):
                task = asyncio.create_task(self._deliver(item, siblings))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if not claimed and until_idle:
                if not tasks:
                    break
                await asyncio.wait(tasks)  # what they put back may be due again: claim once more
            elif not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.idle_s)
            elif len(tasks) >= self.batch:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if tasks:
            await asyncio.wait(tasks)

    async def _claim(self, now: float, last_recovery: float, free: int) -> tuple[float, list[Claimed]]:
        """Return expired leases to the queue (every 5 s) and lease up to `free` due rows."""
        if now - last_recovery > 5:
            last_recovery = now
            async with self.sessions() as session:
                recovered = await outbox.recover_expired(session)
                waiting, age = await outbox.depth(session)
                await session.commit()
            metrics.OUTBOX_DEPTH.set(waiting)
            metrics.OUTBOX_AGE.set(age)
            if recovered:
                log.info("outbox: %d expired leases returned to the queue", recovered)
        claimed: list[Claimed] = []
        if free > 0:
            async with self.sessions() as session:
                claimed = await outbox.claim(session, worker=self.worker, limit=free, lease_s=self.lease_s)
                await session.commit()
        return last_recovery, claimed

    async def _deliver(self, item: Claimed, siblings: tuple[Claimed, ...] = ()) -> None:
        async with self._slots:
            try:
                await self._deliver_one(item, siblings)
            except Exception as exc:  # never lose a row to an unexpected error: put it back
                if is_transient(exc):  # the row stays leased; the lease expiry returns it to the queue
                    self.health.failing("sender", exc)
                    return
                log.exception("outbox %s: unexpected error", item.id)
                with contextlib.suppress(Exception):  # if even that fails, the lease expiry returns it
                    await self._requeue(item, outbox.backoff(item.attempts), f"internal: {type(exc).__name__}")

    async def _deliver_one(self, item: Claimed, siblings: tuple[Claimed, ...] = ()) -> None:
        if not await self._cleared(item):
            return
        assert item.chat_id is not None
        chat_id = item.chat_id
        batch, text, markup = [item], item.text, None
        async with self._chat_locks[chat_id]:
            # Spacing per chat: Telegram allows about one message a second in one chat.
            loop = asyncio.get_running_loop()
            wait = self._chat_last.get(chat_id, 0.0) + self.settings.chat_interval_s - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if item.kind in notices.KINDS:
                await self.limiter.space_chat(chat_id, self.settings.chat_interval_s)  # across workers too
                batch, text, markup = await self._notice_batch(item, siblings)
            if not await self._budget():
                # Stopping (SIGTERM): a send not started yet goes back to the queue at once instead
                # of holding the process (and its lease) past the grace period; the next sender takes it.
                for one in batch:
                    await self._requeue(one, 0, "sender stopped before sending", count=False)
                self.stats["returned"] += len(batch)
                return
            try:
                message = await self._send(chat_id, item.kind, batch, text, markup)
            finally:
                self._chat_last[chat_id] = loop.time()
        if message is None:
            return

        async def _sent() -> None:
            async with self.sessions() as session:
                for one in batch:
                    await outbox.mark_sent(session, one.id, message.message_id, worker=self.worker)
                ticket_ids = [t for t in (notices.ticket_of(one.key) for one in batch) if t is not None]
                if ticket_ids:  # a Telegram reply to this message answers the (latest) ticket in it
                    await session.execute(update(Ticket).where(Ticket.id.in_(ticket_ids))
                                          .values(notify_message_id=message.message_id))
                await session.commit()

        await self._write(_sent)
        metrics.MESSAGES_SENT.labels("sent").inc(len(batch))
        self.stats["sent"] += len(batch)
        if len(batch) > 1:
            self.stats["coalesced"] += len(batch) - 1
        log.info("sent", extra={"outbox_id": item.id, "kind": item.kind, "chat_id": chat_id, "folded": len(batch)})

    async def _cleared(self, item: Claimed) -> bool:
        """The bank's rules once more, right before the send: False when the message was postponed
        (quiet hours) or cancelled (opt-out, block, cap, compliance, no chat)."""
        async with self.sessions() as session:
            client = await session.get(Client, item.client_id) if item.client_id else None
            if client is not None:
                problem = await self._send_problem(session, item, client)
                if problem == rules.QUIET_HOURS:
                    now = clock.now(session)
                    when = rules.next_send_time(now, client.timezone or self.settings.timezone,
                                                self.settings.quiet_hours_start, self.settings.quiet_hours_end)
                    await outbox.retry_later(session, item.id, delay_s=(when - now).total_seconds(),
                                             error=problem, worker=self.worker, count_attempt=False)
                    await session.commit()
                    self.stats["postponed"] += 1
                    return False
                if problem is not None:
                    await outbox.mark_cancelled(session, item.id, problem, worker=self.worker)
                    await session.commit()
                    metrics.MESSAGES_SENT.labels("cancelled").inc()
                    self.stats["cancelled"] += 1
                    return False
            if item.chat_id is None:
                await outbox.mark_cancelled(session, item.id, rules.UNBOUND, worker=self.worker)
                await session.commit()
                self.stats["cancelled"] += 1
                return False
        return True

    async def _send(self, chat_id: int, kind: str, batch: list[Claimed], text: str,
                    markup: InlineKeyboardMarkup | None) -> Message | None:
        """One Bot API send for the batch; None when Telegram refused it (the rows are then requeued,
        failed or their client marked blocked, as its answer says)."""
        try:
            # Drafts are plain text, sent exactly as approved; replies and staff notices are escaped HTML.
            parse_mode = "HTML" if kind == "reply" or kind in notices.KINDS else None
            return await self.bot.send_message(chat_id, text, parse_mode=parse_mode, reply_markup=markup)
        except TelegramRetryAfter as exc:
            metrics.TELEGRAM_429.inc()
            self.stats["429"] += 1
            await self.limiter.pause(exc.retry_after)
            for one in batch:
                await self._requeue(one, exc.retry_after, f"429 retry after {exc.retry_after}s", count=False)
            return None
        except TelegramForbiddenError as exc:
            for one in batch:
                await self._blocked(one, str(exc.message))
            return None
        except TelegramBadRequest as exc:
            for one in batch:
                await self._fail(one, f"400: {exc.message}")
            return None
        except (TelegramServerError, TelegramNetworkError, TimeoutError, OSError) as exc:
            await self._transient(batch, exc)
            return None

    async def _notice_batch(self, item: Claimed, siblings: tuple[Claimed, ...]
                            ) -> tuple[list[Claimed], str, InlineKeyboardMarkup | None]:
        """A staff notice with the other notices waiting for the same chat, folded into one message;
        a single ticket's notice keeps its Take / Reply / Close buttons."""
        assert item.chat_id is not None
        async with self.sessions() as session:
            more = await outbox.claim_chat_notices(session, worker=self.worker, chat_id=item.chat_id,
                                                   kinds=notices.KINDS, lease_s=self.lease_s)
            await session.commit()
        batch = sorted([item, *siblings, *more], key=lambda c: (outbox.KIND_PRIORITY.get(c.kind, 9), c.id))
        if len(batch) == 1:
            ticket_id = notices.ticket_of(item.key)
            markup = (self.notice_markup(ticket_id, notices.language_of(item.key))
                      if self.notice_markup and ticket_id is not None else None)
            return batch, item.text, markup
        urgent = sum(1 for c in batch if c.kind == notices.ALERT)
        return batch, notices.burst_text([c.text for c in batch], urgent, notices.language_of(item.key)), None

    async def _transient(self, batch: list[Claimed], exc: Exception) -> None:
        self.stats["retries"] += 1
        metrics.SEND_RETRIES.inc()
        reason = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
        for one in batch:
            if one.attempts >= MAX_ATTEMPTS:
                await self._fail(one, f"gave up after {one.attempts} attempts: {reason}")
            else:
                await self._requeue(one, outbox.backoff(one.attempts), reason)

    async def _send_problem(self, session: AsyncSession, item: Claimed, client: Client) -> str | None:
        """The bank's rules (`rules.send_problem`), then, for an approved draft, the compliance gate
        once more with today's rules: a blocking finding cancels the message (audited)."""
        now = clock.now(session)
        problem = await rules.send_problem(session, client=client, kind=item.kind, when_utc=now,
                                           settings=self.settings, outbox_id=item.id)
        if problem is not None or item.draft_id is None:
            return problem
        today = now.astimezone(rules.zone(client.timezone or self.settings.timezone)).date()
        findings = await compliance.send_findings(session, item.draft_id, item.text, client, today)
        if not findings:
            return None
        audit.record(session, actor="sender", action="send_blocked", entity="outbox", entity_id=item.id,
                     manager_id=client.manager_id, client_id=client.id, details={"findings": findings})
        return f"compliance: {', '.join(findings)}"

    async def _budget(self) -> bool:
        """Wait for the sending budget; False when the sender is stopped first (that wait can be a
        429 pause far longer than a stopping process has)."""
        acquire = asyncio.ensure_future(self.limiter.acquire())
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait((acquire, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not acquire.done():  # stopped (or cancelled) first: give up the wait
                acquire.cancel()
        if not acquire.done():
            return False
        acquire.result()  # the limiter's own error, if any
        return not self._stop.is_set()

    async def _requeue(self, item: Claimed, delay: float, reason: str, count: bool = True) -> None:
        async def write() -> None:
            async with self.sessions() as session:
                await outbox.retry_later(session, item.id, delay_s=delay, error=reason, worker=self.worker,
                                         count_attempt=count)
                await session.commit()

        await self._write(write)

    async def _fail(self, item: Claimed, reason: str) -> None:
        async def write() -> None:
            async with self.sessions() as session:
                await outbox.mark_failed(session, item.id, reason, worker=self.worker)
                await session.commit()

        await self._write(write)
        metrics.MESSAGES_SENT.labels("failed").inc()
        self.stats["failed"] += 1
        log.warning("send failed", extra={"outbox_id": item.id, "reason": reason})

    async def _blocked(self, item: Claimed, reason: str) -> None:
        async def write() -> None:
            async with self.sessions() as session:
                await outbox.mark_failed(session, item.id, f"403: {reason}", worker=self.worker)
                client = await session.get(Client, item.client_id) if item.client_id is not None else None
                if client is not None:  # the one path for "blocked": the flag and its audit row
                    await consent.mark_blocked(session, client, source="send")
                    await outbox.cancel_client(session, client.id, rules.BLOCKED)
                await session.commit()

        await self._write(write)
        metrics.MESSAGES_SENT.labels("failed").inc()
        self.stats["blocked"] += 1


def _fold_notices(claimed: list[Claimed]) -> list[tuple[Claimed, tuple[Claimed, ...]]]:
    """Claimed rows as deliveries: staff notices for one chat travel together (one message)."""
    out: list[tuple[Claimed, tuple[Claimed, ...]]] = []
    by_chat: dict[int, list[Claimed]] = {}
    for item in claimed:
        if item.kind in notices.KINDS and item.chat_id is not None:
            by_chat.setdefault(item.chat_id, []).append(item)
        else:
            out.append((item, ()))
    out += [(group[0], tuple(group[1:])) for group in by_chat.values()]
    return out


async def run_sender(settings: Settings, db: Database, bot: Bot, stop: asyncio.Event | None = None,
                     *, limiter: Limiter | None = None, health: PartsHealth | None = None,
                     notice_markup: Callable[[int, str], InlineKeyboardMarkup] | None = None) -> None:
    """Entry point for `rmbot run` / `rmbot worker`: run until cancelled or `stop` is set (then the
    messages in hand are finished). `limiter` is shared with the bot's replies in `rmbot run`."""
    own = limiter is None
    limiter = limiter or build_limiter(settings.redis_url, settings.send_rate_per_s)
    stop = stop or asyncio.Event()
    sender = Sender(settings, db.sessions, bot, limiter, health=health, notice_markup=notice_markup)
    try:
        await sender.run(stop)
    finally:
        if own:
            await limiter.close()

