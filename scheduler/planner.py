"""The planning engine: one day's drafts for every client, within the bank's rules.

`plan_day(session, settings, plan_date, ...)` reads clients in id batches (plain column selects),
their holdings, the marketing already planned around that day and the dedupe keys already used,
then for each client: occasions (scheduler/occasions.py) -> rules (consent, opt-out, block,
caps, suitability; bot/services/rules.py) -> collisions (service before greeting before
recommendation) -> drafts rendered from precompiled templates (prompts/drafts/), optionally
personalised by an LLM and checked (bot/services/drafting.py) -> bulk insert with
ON CONFLICT DO NOTHING on (client_id, dedupe_key), so re-planning a day adds nothing.

Campaigns group drafts per (manager, plan_date, kind, occasion). The caller commits.
"""

from __future__ import annotations

import asyncio
import time as _time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from jinja2 import Template
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.db.base import insert_for
from bot.db.models import Campaign, Client, Draft, DraftKind, DraftStatus, Holding, InviteToken, Manager, Product
from bot.i18n import normalize_language
from bot.services import audit, compliance, rules
from bot.services.formats import fmt_date
from bot.settings import Settings
from prompts import environment, load_prompt
from scheduler.calendar import festival_on
from scheduler.occasions import OCCASION_LABELS, Candidate, Catalog, ClientFacts, HoldingFacts, candidates, day_values

# Local send slots per kind (then moved out of quiet hours if the settings make them quiet).
SEND_SLOTS = {
    DraftKind.REMINDER.value: "09:00",
    DraftKind.GREETING.value: "09:30",
    DraftKind.RECOMMENDATION.value: "10:30",
}
ALREADY_PLANNED = "already_planned"
NO_TEMPLATE = "no_template"
ONE_A_DAY = "one_message_a_day"  # a second greeting or recommendation for the same morning
NOT_REACHABLE = "not_reachable"  # no Telegram chat bound: nothing could be delivered
# Drafts whose occasion keys are looked up when planning (every window is at most a month long).
KEY_LOOKBACK_DAYS = 40
_CJK = compliance._CJK
# Drafts that count toward the marketing caps when planning.
COUNTED_STATUSES = (
    DraftStatus.PENDING.value, DraftStatus.APPROVED.value, DraftStatus.QUEUED.value, DraftStatus.SENT.value,
)
CLIENT_COLUMNS = (
    Client.id, Client.client_no, Client.manager_id, Client.name, Client.salutation, Client.language,
    Client.timezone, Client.birthday, Client.customer_since, Client.segment, Client.id_expiry,
    Client.risk_rating, Client.risk_assessed_on, Client.marketing_consent, Client.opted_out,
    Client.reminders_enabled, Client.blocked, Client.telegram_chat_id,
)
HOLDING_COLUMNS = (
    Holding.id, Holding.client_id, Holding.kind, Holding.product_code, Holding.amount, Holding.currency,
    Holding.start_date, Holding.maturity_date, Holding.next_due_date, Holding.next_due_amount,
    Holding.account_tail,
)
IN_CHUNK = 500


@dataclass
class PlannedDraft:
    client_id: int
    client_no: str
    manager_id: int
    manager_code: str
    language: str
    kind: str
    occasion: str
    dedupe_key: str
    text: str
    template_text: str
    context: dict[str, Any]
    reasons: list[str]
    flags: list[str]
    scheduled_at: datetime  # aware UTC
    local_tz: str
    client: dict[str, Any]
    product: dict[str, Any] | None = None
    amount: Decimal | None = None  # what the recommendation's product was matched against
    occasions: list[str] = field(default_factory=list)  # every occasion composed into the message
    part_keys: list[str] = field(default_factory=list)
    plan_date: date | None = None
    prompt_id: str | None = None
    prompt_hash: str | None = None
    llm_rewritten: bool = False
    product_message: bool = False
    id: int | None = None
    campaign_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        local = self.scheduled_at.astimezone(rules.zone(self.local_tz))
        out: dict[str, Any] = {
            "id": self.id,
            "campaign_id": self.campaign_id,
            "client_no": self.client_no,
            "manager": self.manager_code,
            "language": self.language,
            "kind": self.kind,
            "occasion": self.occasion,
            "dedupe_key": self.dedupe_key,
            "text": self.text,
            "reasons": self.reasons,
            "flags": self.flags,
            "scheduled_at": local.isoformat(),
            "client": self.client,
        }
        if len(self.occasions) > 1:
            out["occasions"] = self.occasions
        if self.product is not None:
            out["product"] = self.product
        if self.amount is not None:
            out["amount"] = float(self.amount)
        return out


@dataclass
class PlanResult:
    plan_date: date
    dry_run: bool
    clients: int = 0
    drafted: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    not_reachable: Counter[str] = field(default_factory=Counter)  # invited | not_invited
    campaigns: dict[tuple[int, str, str], dict[str, Any]] = field(default_factory=dict)
    drafts: list[PlannedDraft] = field(default_factory=list)
    personalised: int = 0
    llm_fallbacks: int = 0
    llm_seconds: float = 0.0  # wall time from the first LLM request to the last answer
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "plan_date": self.plan_date.isoformat(),
            "dry_run": self.dry_run,
            "clients": self.clients,
            "campaigns": sorted(self.campaigns.values(), key=lambda c: (c["manager"], c["kind"], c["occasion"])),
            "drafts": [d.as_json() for d in self.drafts],
            "skipped": dict(sorted(self.skipped.items())),
            "not_reachable": dict(sorted(self.not_reachable.items())),
        }


class Templates:
    """Compiled draft templates and their ids/hashes, loaded once per plan."""

    def __init__(self) -> None:
        self._compiled: dict[str, Template | None] = {}

    def get(self, path: str) -> Template | None:
        if path not in self._compiled:
            try:
                self._compiled[path] = environment().get_template(path)
            except Exception:  # noqa: BLE001 - a missing template is reported as a skip reason
                self._compiled[path] = None
        return self._compiled[path]

    @staticmethod
    def ident(path: str) -> tuple[str, str]:
        prompt = load_prompt(path)
        return prompt.id, prompt.hash


if TYPE_CHECKING:
    from bot.services.drafting import Personaliser


class ClientRow(ClientFacts, rules.Reachable, Protocol):
    """A client as the planner reads it: a row of `CLIENT_COLUMNS` (a `bot.db.models.Client` is one too)."""

    @property
    def client_no(self) -> str: ...
    @property
    def manager_id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def salutation(self) -> str | None: ...
    @property
    def language(self) -> str: ...


def _snapshot(client: ClientRow) -> dict[str, Any]:
    return {
        "risk_rating": client.risk_rating,
        "risk_assessed_on": client.risk_assessed_on.isoformat() if client.risk_assessed_on else None,
        "marketing_consent": bool(client.marketing_consent),
        "opted_out": bool(client.opted_out),
        "timezone": client.timezone,
    }


def _chunks(items: Sequence[Any], size: int = IN_CHUNK) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class PlannedMarketing:
    """The local days of each client's marketing drafts around the plan date, counted against the bank's caps
    (`rules.marketing_caps`, `rules.cap_problem`: the same definition the sender checks before sending)."""

    def __init__(self, plan_date: date, caps: tuple[rules.Cap, ...]) -> None:
        self.plan_date, self.caps = plan_date, caps
        self.dates: dict[int, list[date]] = defaultdict(list)

    def problem(self, client_id: int) -> str | None:
        return rules.cap_problem(self.caps, self.plan_date, self.dates.get(client_id, ()))

    def add(self, client_id: int) -> None:
        self.dates[client_id].append(self.plan_date)


class Planner:
    def __init__(self, session: AsyncSession, settings: Settings, plan_date: date, *, now: datetime | None = None,
                 personaliser: Personaliser | None = None, personalise_limit: int | None = None, collect: bool = True,
                 dry_run: bool = False, reach: bool = True) -> None:
        self.session, self.settings, self.plan_date = session, settings, plan_date
        # Drafts only for clients reachable on Telegram (False: every client, e.g. to check texts).
        self.reach = reach
        self.festival = festival_on(plan_date, qingming_greeting=settings.qingming_greeting)
        self.now = now
        self.personaliser = personaliser
        self.personalise_left = personalise_limit
        self.collect, self.dry_run = collect, dry_run
        self.templates = Templates()
        self.slot_cache: dict[tuple[str, str], datetime] = {}
        self.signatures: dict[tuple[int, str], str] = {}
        self.campaign_ids: dict[tuple[int, str, str], int] = {}
        self.manager_codes: dict[int, str] = {}
        self._llm_first = 0.0
        self.result = PlanResult(plan_date=plan_date, dry_run=dry_run)
        self.dialect = session.bind.dialect.name if session.bind is not None else "sqlite"

    # ---- small lookups -------------------------------------------------------------------
    def scheduled_at(self, tz_name: str, kind: str) -> datetime:
        key = (tz_name, kind)
        if key not in self.slot_cache:
            s = self.settings
            slot = rules.local_time_utc(self.plan_date, SEND_SLOTS[kind], tz_name)
            now = self.now
            if now is not None and slot < now and now.astimezone(rules.zone(tz_name)).date() == self.plan_date:
                slot = now
            self.slot_cache[key] = rules.next_send_time(slot, tz_name, s.quiet_hours_start, s.quiet_hours_end)
        return self.slot_cache[key]

    def signature(self, manager: Manager, lang: str) -> str:
        """The manager's signature in the client's language: their own when they set one in that
        language (an English client never gets a Chinese signature), else the template's."""
        key = (manager.id, lang)
        if key not in self.signatures:
            own = manager.signature if lang == "zh" else manager.signature_en
            if lang == "en" and not own and manager.signature and not _CJK.search(manager.signature):
                own = manager.signature
            if own:
                self.signatures[key] = own
            else:
                branch = manager.branch or ""
                if lang == "en" and _CJK.search(branch):
                    branch = ""  # a Chinese branch name is not a name: left out of English
                tpl = self.templates.get(f"drafts/signature_{lang}.j2")
                assert tpl is not None
                self.signatures[key] = tpl.render(manager_name=manager.name, branch=branch).strip()
        return self.signatures[key]

    # ---- data ----------------------------------------------------------------------------
    async def load_managers(self, manager_id: int | None) -> dict[int, Manager]:
        query = select(Manager).where(Manager.active.is_(True))
        if manager_id is not None:
            query = query.where(Manager.id == manager_id)
        return {m.id: m for m in (await self.session.scalars(query)).all()}

    async def load_catalog(self) -> Catalog:
        return Catalog.of((await self.session.scalars(select(Product).where(Product.active.is_(True)))).all())

    async def existing_keys(self, lo: int, hi: int, keys: set[str]) -> tuple[set[tuple[int, str]], set[int]]:
        """Occasion keys already drafted for these clients (every part of a composed message), and
        the clients who already have their message for the plan date."""
        found: set[tuple[int, str]] = set()
        today: set[int] = set()
        rows = await self.session.execute(
            select(Draft.client_id, Draft.dedupe_key, Draft.part_keys, Draft.plan_date).where(
                Draft.client_id.between(lo, hi),
                Draft.plan_date.between(self.plan_date - timedelta(days=KEY_LOOKBACK_DAYS), self.plan_date)))
        for client_id, key, part_keys, plan_date in rows:
            found.add((client_id, key))
            found.update((client_id, k) for k in part_keys or ())
            if plan_date == self.plan_date:
                today.add(client_id)
        for part in _chunks(sorted(keys)):  # yearly keys from further back
            rows = await self.session.execute(
                select(Draft.client_id, Draft.dedupe_key).where(
                    Draft.client_id.between(lo, hi), Draft.dedupe_key.in_(part)))
            found.update((r[0], r[1]) for r in rows)
        return found, today

    async def invited(self, lo: int, hi: int) -> set[int]:
        """Clients with an invite still open (sent, neither used nor expired)."""
        now = self.now or clock.now(self.session)
        rows = await self.session.execute(select(InviteToken.client_id).where(
            InviteToken.client_id.between(lo, hi), InviteToken.used_at.is_(None), InviteToken.expires_at > now))
        return {r[0] for r in rows}

    async def load_caps(self, lo: int, hi: int) -> PlannedMarketing:
        caps = PlannedMarketing(self.plan_date, rules.marketing_caps(self.settings))
        reach = timedelta(days=rules.cap_reach(caps.caps))
        rows = await self.session.execute(
            select(Draft.client_id, Draft.plan_date).where(
                Draft.client_id.between(lo, hi),
                Draft.plan_date.between(self.plan_date - reach, self.plan_date + reach),
                Draft.kind.in_(sorted(rules.MARKETING_KINDS)),
                Draft.status.in_(COUNTED_STATUSES),
            ))
        for client_id, plan_date in rows:
            caps.dates[client_id].append(plan_date)
        return caps

    async def campaign_id(self, manager_id: int, kind: str, occasion: str, template: str) -> int:
        key = (manager_id, kind, occasion)
        if key in self.campaign_ids:
            return self.campaign_ids[key]
        where = (Campaign.manager_id == manager_id, Campaign.plan_date == self.plan_date,
                 Campaign.kind == kind, Campaign.occasion == occasion)
        found = await self.session.scalar(select(Campaign.id).where(*where))
        if found is None:
            zh, en = OCCASION_LABELS.get(occasion, (occasion, occasion))
            tid, thash = self.templates.ident(template)
            stmt = insert_for(self.dialect, Campaign).values(
                manager_id=manager_id, plan_date=self.plan_date, kind=kind, occasion=occasion,
                title=f"{zh} / {en}", template_id=tid, template_hash=thash, status="pending",
            ).on_conflict_do_nothing()
            await self.session.execute(stmt)
            found = await self.session.scalar(select(Campaign.id).where(*where))
        assert found is not None
        self.campaign_ids[key] = found
        return found

    # ---- drafting ------------------------------------------------------------------------
    def _part_values(self, cand: Candidate, lang: str) -> dict[str, Any]:
        values: dict[str, Any] = dict(cand.values)
        for name, (zh, en) in cand.localized.items():
            values[name] = zh if lang == "zh" else en
        for name, value in cand.dated.items():
            values[name] = fmt_date(value, lang)
        if cand.product is not None:
            values["product_name"] = cand.product.name(lang)
            values["product_code"] = cand.product.code
        return values

    def compose(self, client: ClientRow, manager: Manager, parts: list[Candidate]) -> PlannedDraft | None:
        """One message from the day's parts: one salutation, the parts' texts (reminders first),
        the risk notices the parts' products call for, one signature."""
        lang = normalize_language(client.language)
        common: dict[str, Any] = {
            "salutation": client.salutation or client.name,
            "signature": self.signature(manager, lang),
            "manager_name": manager.name,
            **day_values(client, self.plan_date, self.festival),
        }
        bodies: list[str] = []
        stored_parts: list[dict[str, Any]] = []
        for cand in parts:
            tpl = self.templates.get(f"{cand.template}_{lang}.j2")
            if tpl is None:
                return None
            values = self._part_values(cand, lang)
            body = tpl.render(**(common | values)).strip()
            bodies.append(body)
            stored_parts.append({"kind": cand.kind, "occasion": cand.occasion, "key": cand.dedupe_key,
                                 "values": values, "body": body})
        notices = sorted({n for cand in parts for n in cand.notices})
        notice = compliance.notices_block(notices, lang)
        frame = self.templates.get(f"drafts/frame_{lang}.j2")
        assert frame is not None
        text = frame.render(salutation=common["salutation"], body="\n".join(bodies), notice=notice,
                            signature=common["signature"]).strip()
        main = next((c for c in parts if rules.is_marketing(c.kind)), parts[0])
        main_values = stored_parts[parts.index(main)]["values"]
        ctx: dict[str, Any] = common | main_values | {
            "risk_notice": notice, "notices": notices, "parts": stored_parts, "day": self.plan_date.isoformat(),
            "names": [n for n in (client.name, client.salutation, manager.name) if n],
        }
        manager_lang = normalize_language(manager.language)
        reasons = [zh if manager_lang == "zh" else en for cand in parts for zh, en in cand.reasons]
        with_product = next((c for c in parts if c.product is not None), None)
        product = None
        if with_product is not None and with_product.product is not None:
            product = with_product.product.as_json(lang)
        tz_name = client.timezone or self.settings.timezone
        kinds = [DraftKind.REMINDER.value if c.absorbed_reminder else c.kind for c in parts]
        slot_kind = min(kinds, key=lambda k: SEND_SLOTS[k])
        prompt_id, prompt_hash = self.templates.ident(f"{main.template}_{lang}.j2")
        return PlannedDraft(
            client_id=client.id, client_no=client.client_no, manager_id=manager.id, manager_code=manager.code,
            language=lang, kind=main.kind, occasion=main.occasion, dedupe_key=main.dedupe_key, text=text,
            template_text=text, context=ctx, reasons=reasons,
            flags=compliance.check(text, template_text=text, context=ctx, language=lang, day=self.plan_date),
            scheduled_at=self.scheduled_at(tz_name, slot_kind), local_tz=tz_name, client=_snapshot(client),
            product=product, amount=with_product.amount if with_product is not None else None,
            occasions=[c.occasion for c in parts], part_keys=[c.dedupe_key for c in parts],
            plan_date=self.plan_date, prompt_id=prompt_id, prompt_hash=prompt_hash,
            product_message=bool(notices),
        )

    def decide(self, client: ClientRow, cands: list[Candidate], used: set[tuple[int, str]], caps: PlannedMarketing,
               skipped: dict[int, set[str]]) -> list[Candidate]:
        """The parts of the client's one message today: every reminder the rules allow, then at most
        one greeting or recommendation within the caps; a reminder about the holding the pitch is
        about is left to the pitch (which says the same)."""
        reminders: list[Candidate] = []
        pitch: Candidate | None = None
        for cand in cands:
            if (client.id, cand.dedupe_key) in used:
                skipped[client.id].add(ALREADY_PLANNED)
                continue
            reason = rules.contact_problem(client, cand.kind)
            if reason is None and cand.product is not None:
                reason = rules.suitability_problem(client, cand.product, self.plan_date)
            if reason is None and rules.is_marketing(cand.kind):
                reason = ONE_A_DAY if pitch is not None else caps.problem(client.id)
                if reason is None:
                    caps.add(client.id)
                    pitch = cand
                    continue
            if reason is None:
                reminders.append(cand)
            else:
                skipped[client.id].add(reason)
        if pitch is not None and pitch.holding_id is not None:
            kept = [r for r in reminders if r.holding_id != pitch.holding_id]
            pitch.absorbed_reminder = len(kept) < len(reminders)
            reminders = kept
        return reminders + ([pitch] if pitch is not None else [])

    async def prepare_batch(self, clients: Sequence[ClientRow], managers: dict[int, Manager],
                            catalog: Catalog) -> list[PlannedDraft]:
        """Candidates -> rules -> one composed draft per client (nothing stored yet)."""
        lo, hi = clients[0].id, clients[-1].id
        holdings: dict[int, list[HoldingFacts]] = defaultdict(list)
        for h in await self.session.execute(select(*HOLDING_COLUMNS).where(Holding.client_id.between(lo, hi))):
            holdings[h.client_id].append(h)
        q = self.settings.qingming_greeting
        per_client = [(c, candidates(c, holdings.get(c.id, ()), self.plan_date, catalog, qingming_greeting=q))
                      for c in clients]
        keys = {cand.dedupe_key for _, cands in per_client for cand in cands}
        used, planned_today = await self.existing_keys(lo, hi, keys) if keys else (set(), set())
        invited = await self.invited(lo, hi) if self.reach else set()
        caps = await self.load_caps(lo, hi)
        skipped: dict[int, set[str]] = defaultdict(set)
        drafts: list[PlannedDraft] = []
        for client, cands in per_client:
            if not cands:
                continue
            if client.id in planned_today:
                skipped[client.id].add(ALREADY_PLANNED)
                continue
            parts = self.decide(client, cands, used, caps, skipped)
            if not parts:
                continue
            if self.reach and client.telegram_chat_id is None:
                skipped[client.id].add(NOT_REACHABLE)
                self.result.not_reachable["invited" if client.id in invited else "not_invited"] += 1
                continue
            draft = self.compose(client, managers[client.manager_id], parts)
            if draft is None:
                skipped[client.id].add(NO_TEMPLATE)
            else:
                drafts.append(draft)
        for reasons in skipped.values():
            self.result.skipped.update(reasons)
        return drafts

    async def personalise(self, drafts: list[PlannedDraft]) -> None:
        todo = [d for d in drafts if rules.is_marketing(d.kind)]
        if self.personalise_left is not None:
            todo = todo[: max(self.personalise_left, 0)]
            self.personalise_left -= len(todo)
        if not todo or self.personaliser is None:
            return
        started = _time.perf_counter()
        self._llm_first = self._llm_first or started
        outcomes = await self.personaliser.personalise_many(todo)
        self.result.llm_seconds = _time.perf_counter() - self._llm_first
        for draft, outcome in zip(todo, outcomes, strict=True):
            draft.text = outcome.text
            draft.llm_rewritten = outcome.rewritten
            draft.flags = draft.flags + outcome.flags
            self.result.personalised += int(outcome.rewritten)
            self.result.llm_fallbacks += int(not outcome.rewritten)

    async def store(self, drafts: list[PlannedDraft]) -> None:
        rows = []
        for d in drafts:
            key = (d.manager_id, d.kind, d.occasion)
            camp = self.result.campaigns.get(key)
            if camp is None:
                camp = {"id": None, "manager": self.manager_codes[d.manager_id], "manager_id": d.manager_id,
                        "kind": d.kind, "occasion": d.occasion, "count": 0}
                self.result.campaigns[key] = camp
                if not self.dry_run:
                    camp["id"] = await self.campaign_id(d.manager_id, d.kind, d.occasion,
                                                        f"drafts/{d.kind}/{d.occasion}_zh.j2")
            camp["count"] += 1
            d.campaign_id = camp["id"]
            if not self.dry_run:
                rows.append({
                    "campaign_id": d.campaign_id, "client_id": d.client_id, "manager_id": d.manager_id,
                    "plan_date": self.plan_date, "kind": d.kind, "occasion": d.occasion,
                    "dedupe_key": d.dedupe_key, "part_keys": d.part_keys or None, "language": d.language,
                    "text": d.text,
                    "template_text": d.template_text, "context": d.context, "reasons": d.reasons,
                    "flags": d.flags or None, "product_code": d.product["code"] if d.product else None,
                    "scheduled_at": d.scheduled_at, "status": DraftStatus.PENDING.value,
                    "llm_rewritten": d.llm_rewritten, "prompt_id": d.prompt_id, "prompt_hash": d.prompt_hash,
                    "edited": False, "created_at": clock.now(self.session),
                })
        if rows:
            stmt = insert_for(self.dialect, Draft.__table__).on_conflict_do_nothing(
                index_elements=["client_id", "dedupe_key"])
            await self.session.execute(stmt, rows)
        self.result.drafted += len(drafts)
        if self.collect:
            self.result.drafts.extend(drafts)

    async def run(self, *, manager_id: int | None = None, batch_size: int = 2000,
                  progress: Callable[[int], None] | None = None) -> PlanResult:
        started = _time.perf_counter()
        managers = await self.load_managers(manager_id)
        self.manager_codes = {m.id: m.code for m in managers.values()}
        catalog = await self.load_catalog()
        last = 0
        # Pipeline: while one batch's drafts wait for the LLM, the next batch is prepared (batches
        # are disjoint client ranges, so their keys and caps never overlap); stores stay in order.
        pending: tuple[list[PlannedDraft], asyncio.Task[None] | None] | None = None
        try:
            while managers:
                query = select(*CLIENT_COLUMNS).where(Client.id > last, Client.manager_id.in_(list(managers)))
                clients = (await self.session.execute(query.order_by(Client.id).limit(batch_size))).all()
                if not clients:
                    break
                last = clients[-1].id
                drafts = await self.prepare_batch(clients, managers, catalog)
                task = (asyncio.create_task(self.personalise(drafts))
                        if self.personaliser is not None else None)
                if pending is not None:
                    await self._finish(*pending)
                pending = (drafts, task)
                self.result.clients += len(clients)
                if progress is not None:
                    progress(len(clients))
            if pending is not None:
                await self._finish(*pending)
                pending = None
        finally:
            if pending is not None and pending[1] is not None:
                pending[1].cancel()
        if not self.dry_run and self.collect and self.result.drafts:
            await self._attach_ids()
        self.result.seconds = _time.perf_counter() - started
        return self.result

    async def _finish(self, drafts: list[PlannedDraft], task: asyncio.Task[None] | None) -> None:
        if task is not None:
            await task
        await self.store(drafts)

    async def _attach_ids(self) -> None:
        by_key = {(d.client_id, d.dedupe_key): d for d in self.result.drafts}
        client_ids = sorted({d.client_id for d in self.result.drafts})
        for part in _chunks(client_ids):
            rows = await self.session.execute(
                select(Draft.id, Draft.client_id, Draft.dedupe_key, Draft.campaign_id).where(
                    Draft.client_id.in_(part), Draft.plan_date == self.plan_date))
            for draft_id, client_id, key, campaign_id in rows:
                d = by_key.get((client_id, key))
                if d is not None:
                    d.id, d.campaign_id = draft_id, campaign_id


async def plan_day(session: AsyncSession, settings: Settings, plan_date: date, *, manager_id: int | None = None,
                   dry_run: bool = False, now: datetime | None = None, personaliser: Personaliser | None = None,
                   personalise_limit: int | None = None, collect: bool = True, batch_size: int = 2000,
                   progress: Callable[[int], None] | None = None, actor: str = "system",
                   reach: bool = True) -> PlanResult:
    """Plan `plan_date` for every active manager's clients (or one manager's). Without `dry_run`
    the campaigns, drafts and one audit row (by `actor`) are added to `session` (the caller
    commits); re-running adds nothing already planned. `personaliser`
    (bot.services.drafting.Personaliser) rewrites up to `personalise_limit` marketing drafts;
    failures keep the template text with a flag."""
    planner = Planner(session, settings, plan_date, now=now, personaliser=personaliser,
                      personalise_limit=personalise_limit, collect=collect, dry_run=dry_run, reach=reach)
    result = await planner.run(manager_id=manager_id, batch_size=batch_size, progress=progress)
    if not dry_run and result.drafted:
        audit.record(session, actor=actor, action="plan", entity="plan", entity_id=plan_date.isoformat(),
                     manager_id=manager_id,
                     details={"clients": result.clients, "drafted": result.drafted,
                              "campaigns": len(result.campaigns), "personalised": result.personalised,
                              "llm_fallbacks": result.llm_fallbacks, "skipped": dict(result.skipped),
                              "not_reachable": dict(result.not_reachable)})
    return result


async def waiting_campaigns(session: AsyncSession, plan_date: date) -> dict[int, list[dict[str, Any]]]:
    """Campaigns of `plan_date` with drafts still pending, per manager id:
    [{"id", "kind", "occasion", "title", "pending"}]."""
    rows = await session.execute(
        select(Campaign.id, Campaign.manager_id, Campaign.kind, Campaign.occasion, Campaign.title,
               func.count(Draft.id))
        .join(Draft, Draft.campaign_id == Campaign.id)
        .where(Campaign.plan_date == plan_date, Draft.status == DraftStatus.PENDING.value)
        .group_by(Campaign.id, Campaign.manager_id, Campaign.kind, Campaign.occasion, Campaign.title)
        .order_by(Campaign.manager_id, Campaign.kind, Campaign.occasion)
    )
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for cid, manager_id, kind, occasion, title, pending in rows:
        out[manager_id].append({"id": cid, "kind": kind, "occasion": occasion, "title": title,
                                "pending": int(pending)})
    return dict(out)


async def campaign_overview(session: AsyncSession, campaign_id: int, *, sample: int = 5) -> dict[str, Any] | None:
    """What a manager needs to review a campaign at a glance: counts by status, flagged drafts,
    the most common reasons, and a sample (flagged drafts first)."""
    camp = await session.get(Campaign, campaign_id)
    if camp is None:
        return None
    statuses = dict((await session.execute(
        select(Draft.status, func.count(Draft.id)).where(Draft.campaign_id == campaign_id)
        .group_by(Draft.status))).all())
    rows = (await session.execute(
        select(Draft.id, Draft.reasons, Draft.flags, Draft.text, Draft.language)
        .where(Draft.campaign_id == campaign_id).order_by(Draft.id))).all()
    reasons: Counter[str] = Counter()
    flagged = []
    for row in rows:
        reasons.update(row.reasons or [])
        if compliance.needs_attention(row.flags):
            flagged.append(row)
    picks = flagged[:sample]
    if len(picks) < sample:  # then evenly spread over the rest
        chosen = {r.id for r in picks}
        rest = [r for r in rows if r.id not in chosen]
        want = sample - len(picks)
        step = max(1, len(rest) // want)
        picks += rest[::step][:want]
    return {
        "id": camp.id, "manager_id": camp.manager_id, "plan_date": camp.plan_date.isoformat(), "kind": camp.kind,
        "occasion": camp.occasion, "title": camp.title, "count": sum(statuses.values()),
        "by_status": {str(k): int(v) for k, v in statuses.items()}, "flagged": len(flagged),
        "top_reasons": [{"reason": r, "count": n} for r, n in reasons.most_common(5)],
        "sample": [{"id": r.id, "language": r.language, "text": r.text, "flags": r.flags or []} for r in picks],
    }
