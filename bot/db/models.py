"""The data model. Every table of the application, typed SQLAlchemy 2.0.

Conventions: ids are integers; times are aware UTC (`UTCDateTime`); calendar dates are `date`;
money is `Numeric(18, 2)` as `Decimal`; enumerations are short strings whose values are the
`StrEnum`s below (portable across SQLite and PostgreSQL, and readable in a SQL shell).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.clock import stamp
from bot.db.base import Base, BigId, Json, UTCDateTime


class RiskRating(StrEnum):
    C1 = "C1"
    C2 = "C2"
    C3 = "C3"
    C4 = "C4"
    C5 = "C5"


class HoldingKind(StrEnum):
    DEPOSIT = "deposit"
    WEALTH = "wealth"
    CARD = "card"
    LOAN = "loan"
    PENSION = "pension"


class DraftKind(StrEnum):
    GREETING = "greeting"
    REMINDER = "reminder"
    RECOMMENDATION = "recommendation"


class DraftStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    QUEUED = "queued"  # handed to the outbox
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TicketStatus(StrEnum):
    OPEN = "open"
    TAKEN = "taken"
    CLOSED = "closed"


class Manager(Base):
    __tablename__ = "managers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    signature: Mapped[str | None] = mapped_column(String(200))  # Chinese drafts
    signature_en: Mapped[str | None] = mapped_column(String(200))  # English drafts
    language: Mapped[str] = mapped_column(String(5), default="zh", server_default="zh")  # console and bot texts
    canned_replies: Mapped[list[str] | None] = mapped_column(Json)  # the manager's own quick replies
    branch: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_approve_reminders: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)

    clients: Mapped[list[Client]] = relationship(back_populates="manager", lazy="raise")


class Client(Base):
    __tablename__ = "clients"
    __table_args__ = (Index("ix_clients_manager_id_client_no", "manager_id", "client_no"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    client_no: Mapped[str] = mapped_column(String(32), unique=True)
    manager_id: Mapped[int] = mapped_column(ForeignKey("managers.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    salutation: Mapped[str | None] = mapped_column(String(50))
    language: Mapped[str] = mapped_column(String(5), default="zh")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    birthday: Mapped[date | None] = mapped_column(Date)
    customer_since: Mapped[date | None] = mapped_column(Date)
    segment: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    id_expiry: Mapped[date | None] = mapped_column(Date)
    risk_rating: Mapped[str | None] = mapped_column(String(2))
    risk_assessed_on: Mapped[date | None] = mapped_column(Date)
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    reminders_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)  # blocked the bot: nothing is sent
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp, onupdate=stamp)

    manager: Mapped[Manager] = relationship(back_populates="clients", lazy="raise")
    holdings: Mapped[list[Holding]] = relationship(
        back_populates="client", lazy="raise", cascade="all, delete-orphan"
    )


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))  # deposit, wealth, fund, pension, card, loan
    risk_level: Mapped[str | None] = mapped_column(String(2))  # R1..R5 for investment products
    is_investment: Mapped[bool] = mapped_column(Boolean, default=False)
    term_days: Mapped[int | None] = mapped_column(Integer)
    min_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(String(3), default="CNY", server_default="CNY")
    # Target segments (comma-separated: mass,affluent,wealth); empty: every segment.
    segments: Mapped[str | None] = mapped_column(String(64))
    rate_text: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Holding(Base):
    __tablename__ = "holdings"
    __table_args__ = (
        Index("ix_holdings_maturity_date", "maturity_date"),
        Index("ix_holdings_next_due_date", "next_due_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    product_code: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    start_date: Mapped[date | None] = mapped_column(Date)
    maturity_date: Mapped[date | None] = mapped_column(Date)  # card: expiry
    next_due_date: Mapped[date | None] = mapped_column(Date)  # loan
    next_due_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    account_tail: Mapped[str | None] = mapped_column(String(8))  # last digits, never the full number

    client: Mapped[Client] = relationship(back_populates="holdings", lazy="raise")


class InviteToken(Base):
    __tablename__ = "invite_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the token, never the token
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("managers.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"), index=True)
    language: Mapped[str] = mapped_column(String(5), default="zh")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)


class ChatMessage(Base):
    """One turn of a conversation: what the customer wrote, or what the bot or the manager answered."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("ix_chat_messages_conversation_id_created_at", "conversation_id", "created_at"),
        Index("ix_chat_messages_inbound", "direction", "created_at", "client_id"),
        Index("ix_chat_messages_answers", "author", "created_at", "outcome", "client_id", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    author: Mapped[str] = mapped_column(String(10))  # customer | bot | manager
    text: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(16))  # grounded | declined | handoff | personal | ...
    sources: Mapped[list[dict[str, Any]] | None] = mapped_column(Json)
    prompt_id: Mapped[str | None] = mapped_column(String(100))
    prompt_hash: Mapped[str | None] = mapped_column(String(64))
    feedback: Mapped[int | None] = mapped_column(Integer)  # +1 / -1
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp, index=True)


class Campaign(Base):
    """The drafts of one manager for one day and one occasion, reviewed together."""

    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("manager_id", "plan_date", "kind", "occasion"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    manager_id: Mapped[int] = mapped_column(ForeignKey("managers.id"), index=True)
    plan_date: Mapped[date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    occasion: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200), default="")
    template_id: Mapped[str | None] = mapped_column(String(100))
    template_hash: Mapped[str | None] = mapped_column(String(64))
    template_override: Mapped[str | None] = mapped_column(Text)  # the manager's edited template
    template_overrides: Mapped[dict[str, str] | None] = mapped_column(Json)  # per language: zh, en
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    first_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Draft(Base):
    __tablename__ = "drafts"
    __table_args__ = (
        UniqueConstraint("client_id", "dedupe_key"),
        Index("ix_drafts_campaign_id_status", "campaign_id", "status"),
        Index("ix_drafts_client_id_scheduled_at", "client_id", "scheduled_at"),
        Index("ix_drafts_report", "manager_id", "plan_date", "status", "edited", "kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    manager_id: Mapped[int] = mapped_column(ForeignKey("managers.id"), index=True)
    plan_date: Mapped[date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    occasion: Mapped[str] = mapped_column(String(64))
    # One draft per client per occasion instance, e.g. "greeting:spring_festival:2027".
    dedupe_key: Mapped[str] = mapped_column(String(160))
    # Every occasion key composed into this one message (the first is `dedupe_key`).
    part_keys: Mapped[list[str] | None] = mapped_column(Json)
    language: Mapped[str] = mapped_column(String(5))
    text: Mapped[str] = mapped_column(Text)
    template_text: Mapped[str | None] = mapped_column(Text)  # what the template alone gave
    context: Mapped[dict[str, Any] | None] = mapped_column(Json)  # values the template rendered
    reasons: Mapped[list[str] | None] = mapped_column(Json)
    flags: Mapped[list[str] | None] = mapped_column(Json)  # failed checks, LLM rewrite...
    product_code: Mapped[str | None] = mapped_column(String(32))
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=DraftStatus.PENDING)
    llm_rewritten: Mapped[bool] = mapped_column(Boolean, default=False)
    edited: Mapped[bool] = mapped_column(Boolean, default=False)
    prompt_id: Mapped[str | None] = mapped_column(String(100))
    prompt_hash: Mapped[str | None] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reject_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)

    @property
    def is_marketing(self) -> bool:
        return self.kind != DraftKind.REMINDER


class OutboxItem(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_manager_id_created_at", "manager_id", "created_at"),
        Index("ix_outbox_report", "manager_id", "created_at", "kind", "status", "last_error"),
        Index("ix_outbox_reach", "manager_id", "status", "sent_at", "client_id"),
        Index("ix_outbox_client_sent", "client_id", "sent_at", "status", "manager_id", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    draft_id: Mapped[int | None] = mapped_column(ForeignKey("drafts.id", ondelete="SET NULL"), unique=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"), index=True)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("managers.id"))
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # greeting | reminder | recommendation | reply
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.QUEUED)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    leased_by: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Ticket(Base):
    """A conversation handed to a person."""

    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_manager_id_status", "manager_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"), index=True)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("managers.id"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))  # request | complaint | fraud | lost_card | low_confidence ...
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.OPEN)
    notify_message_id: Mapped[int | None] = mapped_column(BigInteger)  # manager-side message to reply to
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KnowledgeDocument(Base):
    """Registry of the knowledge base: one row per document (file name), current version."""

    __tablename__ = "knowledge_documents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    language: Mapped[str | None] = mapped_column(String(5))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    loaded_by: Mapped[str | None] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)


class LoginToken(Base):
    """One-time console login links (hash of the token only) and their sessions."""

    __tablename__ = "login_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))  # link | session
    manager_id: Mapped[int] = mapped_column(ForeignKey("managers.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditLog(Base):
    """Append-only: rows are inserted in the same transaction as the change they record."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_action_at", "action", "at"),
        Index("ix_audit_log_entity_entity_id", "entity", "entity_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    actor: Mapped[str] = mapped_column(String(64))  # manager:12 | admin:34 | client:C000123 | system
    action: Mapped[str] = mapped_column(String(32))  # approve | edit | reject | send | opt_out | handoff ...
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    manager_id: Mapped[int | None] = mapped_column(Integer, index=True)
    client_id: Mapped[int | None] = mapped_column(Integer, index=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(Json)


class AuditLogIsAppendOnly(Exception):
    pass


@event.listens_for(AuditLog, "before_update")
@event.listens_for(AuditLog, "before_delete")
def _audit_append_only(*_: object) -> None:
    raise AuditLogIsAppendOnly("the audit log is append-only")
