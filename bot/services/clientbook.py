"""The client book: import clients and holdings from a CRM export (CSV or Excel).

Two files, both with a header row (column names are case-insensitive; spaces become `_`):

* **clients**: `client_no, name, manager, language, timezone, birthday, risk_rating,
  risk_assessed_on, marketing_consent` and optionally `salutation, segment, phone, id_expiry,
  opted_out, customer_since, manager_name`.
* **holdings**: `client_no, kind, product_code, amount, currency, start_date, maturity_date` and
  optionally `next_due_date, next_due_amount, account_tail` (cards use `maturity_date` for expiry;
  loans also `next_due_date, next_due_amount`).

Rules (the README repeats them for admins):

* Clients are upserted by `client_no`: new numbers are imported, known numbers updated, identical
  rows counted as unchanged. Re-importing the same file changes nothing.
* An empty cell never erases a stored value (on a new client it takes the default: language `zh`,
  the bank's time zone, no marketing consent). A column absent from the file leaves its field alone.
* `opted_out` can switch an opt-out on but never off: an opt-out the client sent through the bot
  ("退订"/STOP) is the client's own choice and outlives any CRM export.
* Managers named in the `manager` column are created when missing (named after `manager_name`,
  or their code).
* The holdings file is a **snapshot per client**: for every client that appears in it, the stored
  holdings become exactly the file's rows (identical rows are kept and counted unchanged, rows with
  the same kind, product, account tail and start date are updated in place, the rest are removed or
  added). Clients absent from the holdings file keep their holdings.
* A bad row is reported with its file, row number (the header is row 1) and the reason, and nothing
  of it is stored; the good rows are imported. When a holdings row of a client is bad, that client's
  stored holdings are left as they were (a partial snapshot would lose data) and its other rows are
  reported as held back.
* Names, phone numbers and birthdays are never echoed in reasons or logs.

Parsing and validation are plain CPU work and run in a thread; the database work is batched
(bulk selects by `client_no`, executemany inserts and updates). The caller commits.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.db.models import Client, Holding, HoldingKind, Manager, RiskRating
from bot.services import audit

log = logging.getLogger(__name__)

CLIENT_REQUIRED = (
    "client_no", "name", "manager", "language", "timezone", "birthday",
    "risk_rating", "risk_assessed_on", "marketing_consent",
)
CLIENT_OPTIONAL = (
    "salutation", "segment", "phone", "id_expiry", "opted_out", "customer_since", "manager_name",
)
HOLDING_REQUIRED = ("client_no", "kind", "product_code", "amount", "currency", "start_date", "maturity_date")
HOLDING_OPTIONAL = ("next_due_date", "next_due_amount", "account_tail")

# Client columns the import manages (everything else on the row, e.g. the Telegram binding, is
# the bot's own state and never touched by an import).
CLIENT_FIELDS = (
    "manager_id", "name", "salutation", "language", "timezone", "birthday", "customer_since",
    "segment", "phone", "id_expiry", "risk_rating", "risk_assessed_on", "marketing_consent", "opted_out",
)
HOLDING_FIELDS = (
    "kind", "product_code", "amount", "currency", "start_date", "maturity_date",
    "next_due_date", "next_due_amount", "account_tail",
)
_TEXT_LIMITS = {"client_no": 32, "name": 100, "salutation": 50, "segment": 32, "phone": 32, "manager": 32,
                "manager_name": 100, "product_code": 32}
_PERSONAL = {"name", "phone", "birthday", "id_expiry", "salutation"}
TRUE_WORDS = frozenset({"yes", "y", "true", "t", "1", "是"})
FALSE_WORDS = frozenset({"no", "n", "false", "f", "0", "否"})
LANGUAGES = ("zh", "en")
KINDS = tuple(k.value for k in HoldingKind)
RATINGS = tuple(r.value for r in RiskRating)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_AMOUNT = Decimal("1e16")
BATCH = 1000

ProgressFn = Callable[[str, int, int], None]


class ClientBookError(Exception):
    """The file as a whole cannot be read (missing, unknown type, bad header); nothing was stored."""


@dataclass(frozen=True)
class RowError:
    file: str
    row: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "row": self.row, "reason": self.reason}


@dataclass
class HoldingsReport:
    clients: int = 0  # clients whose holdings were replaced by the snapshot
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"clients": self.clients, "imported": self.imported, "updated": self.updated,
                "unchanged": self.unchanged, "removed": self.removed}


@dataclass
class ImportReport:
    """Counts for the clients file at the top level; the holdings file under `holdings`."""

    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[RowError] = field(default_factory=list)
    managers_created: list[str] = field(default_factory=list)
    holdings: HoldingsReport | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": [f.as_dict() for f in self.failed],
            "managers_created": list(self.managers_created),
            "holdings": self.holdings.as_dict() if self.holdings else None,
        }


@dataclass
class ParsedClients:
    records: list[dict[str, Any]]  # typed values; keys only for the cells given (client_no, manager always)
    failed: list[RowError]
    manager_names: dict[str, str]


@dataclass
class ParsedHoldings:
    by_client: dict[str, list[tuple[int, dict[str, Any]]]]  # client_no -> [(row, holding)]
    failed: list[RowError]


# --------------------------------------------------------------------------------------------
# Reading files


def read_table(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """(normalised header, iterator of (row number, cells as text)) for a .csv/.txt/.xlsx file."""
    path = Path(path)
    if not path.is_file():
        raise ClientBookError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return _read_csv(path)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    raise ClientBookError(f"{path.name}: unsupported file type {suffix or '(none)'}; use .csv or .xlsx")


def _decode(raw: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ClientBookError(f"{name}: cannot decode the file as UTF-8 or GB18030")


# Chinese column names as CRM exports often have them.
HEADER_ALIASES = {
    "客户号": "client_no", "客户编号": "client_no", "姓名": "name", "客户姓名": "name",
    "客户经理": "manager", "客户经理编号": "manager", "客户经理姓名": "manager_name", "语言": "language",
    "时区": "timezone", "生日": "birthday", "出生日期": "birthday", "风险等级": "risk_rating",
    "风险评级": "risk_rating", "风评日期": "risk_assessed_on", "风险评估日期": "risk_assessed_on",
    "营销同意": "marketing_consent", "同意营销": "marketing_consent", "称呼": "salutation",
    "客户分层": "segment", "客群": "segment", "手机": "phone", "手机号": "phone", "证件到期日": "id_expiry",
    "已退订": "opted_out", "退订": "opted_out", "开户日期": "customer_since", "产品类型": "kind",
    "类型": "kind", "产品代码": "product_code", "金额": "amount", "币种": "currency", "起息日": "start_date",
    "到期日": "maturity_date", "下次还款日": "next_due_date", "下次还款金额": "next_due_amount",
    "账号尾号": "account_tail",
}
KIND_ALIASES = {"存款": "deposit", "定期": "deposit", "定期存款": "deposit", "理财": "wealth",
                "信用卡": "card", "卡": "card", "贷款": "loan", "养老金": "pension", "个人养老金": "pension"}


def _norm_header(cells: Sequence[object]) -> list[str]:
    names = [re.sub(r"[\s\-]+", "_", str(c if c is not None else "").strip().lower()) for c in cells]
    return [HEADER_ALIASES.get(n, n) for n in names]


def _read_csv(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    text = _decode(path.read_bytes(), path.name)
    sample = text[:4096]
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ClientBookError(f"{path.name}: the file is empty (no header row)") from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        for row in reader:
            if any(cell.strip() for cell in row):
                yield reader.line_num, row

    return _norm_header(header), rows()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _read_xlsx(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a damaged file
        raise ClientBookError(f"{path.name}: not a readable Excel workbook ({type(exc).__name__})") from None
    try:
        sheet = workbook.worksheets[0]
        iterator = sheet.iter_rows(values_only=True)
        header = next(iterator, None)
        if header is None:
            raise ClientBookError(f"{path.name}: the first sheet is empty (no header row)")
        rows: list[tuple[int, list[str]]] = []
        for number, row in enumerate(iterator, start=2):
            cells = [_cell_text(v) for v in row]
            if any(c.strip() for c in cells):
                rows.append((number, cells))
    finally:
        workbook.close()
    return _norm_header(header), iter(rows)


def _check_header(header: list[str], required: Sequence[str], name: str, what: str) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        raise ClientBookError(
            f"{name}: not a {what} file: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(h for h in header if h) or 'none'})"
        )


def _records(
    header: list[str], rows: Iterable[tuple[int, list[str]]]
) -> Iterator[tuple[int, dict[str, str]]]:
    for number, cells in rows:
        values = {}
        for i, column in enumerate(header):
            if column and column not in values:
                values[column] = cells[i].strip() if i < len(cells) and cells[i] is not None else ""
        yield number, values


# --------------------------------------------------------------------------------------------
# Values


class BadValue(ValueError):
    pass


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def _show(column: str, value: str) -> str:
    """The column and, unless it is personal data, the offending value."""
    if column in _PERSONAL:
        return column
    shown = value if len(value) <= 40 else value[:37] + "..."
    return f"{column} {shown!r}"


def parse_date(column: str, value: str) -> date:
    if _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise BadValue(f"{_show(column, value)} is not an ISO date (YYYY-MM-DD)")


def parse_bool(column: str, value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise BadValue(f"{_show(column, value)} is not one of yes/no/true/false/1/0/是/否")


def parse_amount(column: str, value: str) -> Decimal:
    cleaned = value.replace(",", "").replace("¥", "").replace("￥", "").replace(" ", "")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise BadValue(f"{_show(column, value)} is not a decimal amount") from None
    if not amount.is_finite() or abs(amount) >= _MAX_AMOUNT:
        raise BadValue(f"{_show(column, value)} is not a decimal amount")
    return amount.quantize(Decimal("0.01"))


def _text(column: str, value: str) -> str:
    limit = _TEXT_LIMITS.get(column)
    if limit and len(value) > limit:
        raise BadValue(f"{column} is longer than {limit} characters")
    return value


def _language(value: str) -> str:
    lang = value.strip().lower().replace("_", "-").split("-", 1)[0]
    if lang not in LANGUAGES:
        raise BadValue(f"{_show('language', value)} is not zh or en")
    return lang


def _timezone(value: str) -> str:
    if value not in _timezones():
        raise BadValue(f"{_show('timezone', value)} is not an IANA time zone (e.g. Asia/Shanghai)")
    return value


def _rating(value: str) -> str:
    rating = value.strip().upper()
    if rating not in RATINGS:
        raise BadValue(f"{_show('risk_rating', value)} is not one of C1-C5")
    return rating


def _kind(value: str) -> str:
    kind = KIND_ALIASES.get(value.strip(), value.strip().lower())
    if kind not in KINDS:
        raise BadValue(f"{_show('kind', value)} is not one of {', '.join(KINDS)}")
    return kind


def _currency(value: str) -> str:
    currency = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise BadValue(f"{_show('currency', value)} is not a 3-letter currency code")
    return currency


def _tail(value: str) -> str:
    digits = re.sub(r"\s", "", value)
    return digits[-4:]  # last digits only: a full account number is never stored


_CLIENT_PARSERS: dict[str, Callable[[str], Any]] = {
    "name": lambda v: _text("name", v),
    "salutation": lambda v: _text("salutation", v),
    "segment": lambda v: _text("segment", v),
    "phone": lambda v: _text("phone", v),
    "language": _language,
    "timezone": _timezone,
    "birthday": lambda v: parse_date("birthday", v),
    "customer_since": lambda v: parse_date("customer_since", v),
    "id_expiry": lambda v: parse_date("id_expiry", v),
    "risk_rating": _rating,
    "risk_assessed_on": lambda v: parse_date("risk_assessed_on", v),
    "marketing_consent": lambda v: parse_bool("marketing_consent", v),
    "opted_out": lambda v: parse_bool("opted_out", v),
}


def parse_clients(header: list[str], rows: Iterable[tuple[int, list[str]]], file: str) -> ParsedClients:
    """Validate the clients file; typed records for the good rows, a RowError for each bad one."""
    _check_header(header, CLIENT_REQUIRED, file, "clients")
    records: list[dict[str, Any]] = []
    failed: list[RowError] = []
    seen: dict[str, int] = {}
    manager_names: dict[str, str] = {}
    columns = [c for c in _CLIENT_PARSERS if c in header]
    for number, values in _records(header, rows):
        client_no = values.get("client_no", "")
        try:
            if not client_no:
                raise BadValue("client_no is empty")
            _text("client_no", client_no)
            if client_no in seen:
                raise BadValue(f"client_no {client_no!r} already appeared on row {seen[client_no]}")
            manager = _text("manager", values.get("manager", ""))
            if not manager:
                raise BadValue("manager is empty")
            if not values.get("name"):
                raise BadValue("name is empty")
            record: dict[str, Any] = {"client_no": client_no, "manager": manager}
            for column in columns:
                raw = values.get(column, "")
                if raw:
                    record[column] = _CLIENT_PARSERS[column](raw)
            if values.get("manager_name"):
                manager_names.setdefault(manager, _text("manager_name", values["manager_name"]))
        except BadValue as exc:
            failed.append(RowError(file, number, str(exc)))
            continue
        seen[client_no] = number
        records.append(record)
    return ParsedClients(records, failed, manager_names)


def parse_holdings(header: list[str], rows: Iterable[tuple[int, list[str]]], file: str) -> ParsedHoldings:
    """Validate the holdings file, grouped by client number (clients are resolved later)."""
    _check_header(header, HOLDING_REQUIRED, file, "holdings")
    by_client: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    failed: list[RowError] = []
    for number, values in _records(header, rows):
        client_no = values.get("client_no", "")
        try:
            if not client_no:
                raise BadValue("client_no is empty")
            kind = _kind(values.get("kind", ""))
            product_code = _text("product_code", values.get("product_code", ""))
            if not product_code:
                raise BadValue("product_code is empty")
            amount_text = values.get("amount", "")
            holding: dict[str, Any] = {
                "kind": kind,
                "product_code": product_code,
                "amount": parse_amount("amount", amount_text) if amount_text else Decimal("0.00"),
                "currency": _currency(values["currency"]) if values.get("currency") else "CNY",
                "start_date": None,
                "maturity_date": None,
                "next_due_date": None,
                "next_due_amount": None,
                "account_tail": _tail(values["account_tail"]) if values.get("account_tail") else None,
            }
            for column in ("start_date", "maturity_date", "next_due_date"):
                if values.get(column):
                    holding[column] = parse_date(column, values[column])
            if values.get("next_due_amount"):
                holding["next_due_amount"] = parse_amount("next_due_amount", values["next_due_amount"])
        except BadValue as exc:
            failed.append(RowError(file, number, str(exc)))
            if client_no:
                by_client[client_no].append((number, {"_bad": True}))
            continue
        by_client[client_no].append((number, holding))
    return ParsedHoldings(dict(by_client), failed)


def _read_clients(path: Path) -> ParsedClients:
    header, rows = read_table(path)
    return parse_clients(header, rows, path.name)


def _read_holdings(path: Path) -> ParsedHoldings:
    header, rows = read_table(path)
    return parse_holdings(header, rows, path.name)


# --------------------------------------------------------------------------------------------
# Database


def _chunks(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


async def ensure_managers(
    session: AsyncSession, codes: Iterable[str], names: dict[str, str] | None = None
) -> tuple[dict[str, int], list[str]]:
    """Manager code -> id for `codes`, creating the missing ones. Returns (ids, created codes)."""
    wanted = sorted(set(codes))
    ids: dict[str, int] = {}
    for batch in _chunks(wanted):
        for code, manager_id in (await session.execute(
            select(Manager.code, Manager.id).where(Manager.code.in_(batch))
        )).all():
            ids[code] = manager_id
    created = [c for c in wanted if c not in ids]
    if created:
        names = names or {}
        await session.execute(insert(Manager), [
            {"code": c, "name": names.get(c, c), "is_admin": False, "auto_approve_reminders": False,
             "active": True, "created_at": clock.now(session)} for c in created
        ])
        for batch in _chunks(created):
            for code, manager_id in (await session.execute(
                select(Manager.code, Manager.id).where(Manager.code.in_(batch))
            )).all():
                ids[code] = manager_id
    return ids, created


_CLIENT_DEFAULTS: dict[str, Any] = {
    "salutation": None, "language": "zh", "birthday": None, "customer_since": None, "segment": None,
    "phone": None, "id_expiry": None, "risk_rating": None, "risk_assessed_on": None,
    "marketing_consent": False, "opted_out": False,
}


async def client_ids(session: AsyncSession, client_nos: Iterable[str]) -> dict[str, int]:
    """client_no -> id for the stored clients among `client_nos`."""
    wanted = list(dict.fromkeys(client_nos))
    found: dict[str, int] = {}
    for batch in _chunks(wanted):
        found.update((await session.execute(
            select(Client.client_no, Client.id).where(Client.client_no.in_(batch))
        )).all())
    return found


async def upsert_clients(
    session: AsyncSession,
    records: Sequence[dict[str, Any]],
    *,
    default_timezone: str = "Asia/Shanghai",
    manager_names: dict[str, str] | None = None,
    progress: ProgressFn | None = None,
) -> tuple[dict[str, int], list[str]]:
    """Upsert validated client records (`client_no`, `manager` code and any of CLIENT_FIELDS'
    values; a missing key means "not given"). Returns ({imported, updated, unchanged}, managers created)."""
    counts = {"imported": 0, "updated": 0, "unchanged": 0}
    manager_ids, created = await ensure_managers(session, (r["manager"] for r in records), manager_names)
    columns = [getattr(Client, f) for f in CLIENT_FIELDS]
    done = 0
    for batch in _chunks(records):
        stored = {
            row.client_no: row
            for row in (await session.execute(
                select(Client.id, Client.client_no, *columns).where(
                    Client.client_no.in_([r["client_no"] for r in batch])
                )
            )).all()
        }
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        now = clock.now(session)
        for record in batch:
            given = {k: v for k, v in record.items() if k in CLIENT_FIELDS}
            given["manager_id"] = manager_ids[record["manager"]]
            old = stored.get(record["client_no"])
            if old is None:
                row = {**_CLIENT_DEFAULTS, "timezone": default_timezone, **given}
                row.update(client_no=record["client_no"], reminders_enabled=True, blocked=False,
                           created_at=now, updated_at=now)
                inserts.append(row)
                continue
            current = {f: getattr(old, f) for f in CLIENT_FIELDS}
            merged = {**current, **given}
            if current["opted_out"]:
                merged["opted_out"] = True  # an opt-out is the client's own choice: never undone here
            if merged == current:
                counts["unchanged"] += 1
            else:
                updates.append({"id": old.id, **merged, "updated_at": now})
        if inserts:
            await session.execute(insert(Client), inserts)
            counts["imported"] += len(inserts)
        if updates:
            await session.execute(update(Client), updates)
            counts["updated"] += len(updates)
        done += len(batch)
        if progress:
            progress("clients", done, len(records))
    return counts, created


def _holding_key(h: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(h[f] for f in HOLDING_FIELDS)


def _identity(h: dict[str, Any]) -> tuple[Any, ...]:
    return (h["kind"], h["product_code"], h["account_tail"], h["start_date"])


async def replace_holdings(
    session: AsyncSession,
    snapshot: dict[int, list[dict[str, Any]]],
    *,
    progress: ProgressFn | None = None,
) -> HoldingsReport:
    """For each client id in `snapshot`, make its stored holdings exactly the given list."""
    report = HoldingsReport(clients=len(snapshot))
    ids = list(snapshot)
    done = 0
    for batch in _chunks(ids):
        stored: dict[int, list[dict[str, Any]]] = defaultdict(list)
        result = await session.execute(
            select(Holding.id, Holding.client_id, *[getattr(Holding, f) for f in HOLDING_FIELDS])
            .where(Holding.client_id.in_(batch)).order_by(Holding.id)
        )
        for row in result.mappings():
            stored[row["client_id"]].append(dict(row))
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        removals: list[int] = []
        for client_id in batch:
            olds = stored.get(client_id, [])
            news = list(snapshot[client_id])
            # 1. identical rows stay as they are
            by_key: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
            for old in olds:
                by_key[_holding_key(old)].append(old)
            rest_new = []
            for new in news:
                same = by_key.get(_holding_key(new))
                if same:
                    same.pop()
                    report.unchanged += 1
                else:
                    rest_new.append(new)
            rest_old = [o for group in by_key.values() for o in group]
            # 2. same holding with changed figures: updated in place
            by_identity: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
            for old in rest_old:
                by_identity[_identity(old)].append(old)
            for new in rest_new:
                candidates = by_identity.get(_identity(new))
                if candidates:
                    old = candidates.pop()
                    updates.append({"id": old["id"], **{f: new[f] for f in HOLDING_FIELDS}})
                else:
                    inserts.append({"client_id": client_id, **{f: new[f] for f in HOLDING_FIELDS}})
            # 3. the rest is no longer held
            removals.extend(o["id"] for group in by_identity.values() for o in group)
        if removals:
            for chunk in _chunks(removals):
                await session.execute(delete(Holding).where(Holding.id.in_(chunk)))
            report.removed += len(removals)
        if updates:
            await session.execute(update(Holding), updates)
            report.updated += len(updates)
        if inserts:
            await session.execute(insert(Holding), inserts)
            report.imported += len(inserts)
        done += len(batch)
        if progress:
            progress("holdings", done, len(ids))
    return report


async def import_client_book(
    session: AsyncSession,
    clients_file: Path | None,
    holdings_file: Path | None = None,
    *,
    default_timezone: str = "Asia/Shanghai",
    actor: str = "system",
    progress: ProgressFn | None = None,
) -> ImportReport:
    """Import a clients file and/or a holdings file. Raises ClientBookError (nothing stored) when a
    file cannot be read as a whole; row-level problems go into `report.failed`. The caller commits."""
    import asyncio

    if clients_file is None and holdings_file is None:
        raise ClientBookError("nothing to import: give a clients file and/or --holdings FILE")
    if progress:
        progress("reading", 0, 1)
    parsed_clients = await asyncio.to_thread(_read_clients, Path(clients_file)) if clients_file else None
    parsed_holdings = await asyncio.to_thread(_read_holdings, Path(holdings_file)) if holdings_file else None
    if progress:
        progress("reading", 1, 1)

    report = ImportReport()
    if parsed_clients is not None:
        report.failed.extend(parsed_clients.failed)
        counts, report.managers_created = await upsert_clients(
            session, parsed_clients.records, default_timezone=default_timezone,
            manager_names=parsed_clients.manager_names, progress=progress,
        )
        report.imported, report.updated, report.unchanged = (
            counts["imported"], counts["updated"], counts["unchanged"])

    if parsed_holdings is not None:
        file = Path(holdings_file).name  # type: ignore[arg-type]
        report.failed.extend(parsed_holdings.failed)
        ids = await client_ids(session, parsed_holdings.by_client)
        snapshot: dict[int, list[dict[str, Any]]] = {}
        for client_no, rows in parsed_holdings.by_client.items():
            bad_rows = [number for number, h in rows if h.get("_bad")]
            if client_no not in ids:
                report.failed.extend(
                    RowError(file, number, f"client_no {client_no!r} is not in the client book")
                    for number, h in rows if not h.get("_bad")
                )
                continue
            if bad_rows:
                report.failed.extend(
                    RowError(file, number, f"held back: row {bad_rows[0]} of client {client_no} failed, "
                                           "so its stored holdings were left unchanged")
                    for number, h in rows if not h.get("_bad")
                )
                continue
            snapshot[ids[client_no]] = [h for _, h in rows]
        report.holdings = await replace_holdings(session, snapshot, progress=progress)

    report.failed.sort(key=lambda f: (f.file, f.row))
    audit.record(
        session, actor=actor, action="import", entity="client_book",
        details={
            "clients_file": Path(clients_file).name if clients_file else None,
            "holdings_file": Path(holdings_file).name if holdings_file else None,
            "imported": report.imported, "updated": report.updated, "unchanged": report.unchanged,
            "failed": len(report.failed), "holdings": report.holdings.as_dict() if report.holdings else None,
        },
    )
    await session.flush()
    log.info(
        "client book import: imported=%d updated=%d unchanged=%d failed=%d",
        report.imported, report.updated, report.unchanged, len(report.failed),
    )
    return report
