"""report indexes: covering indexes so a year of history aggregates from the index alone

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ("ix_drafts_report", "drafts", ["manager_id", "plan_date", "status", "edited", "kind"]),
    ("ix_outbox_report", "outbox", ["manager_id", "created_at", "kind", "status", "last_error"]),
    ("ix_outbox_reach", "outbox", ["manager_id", "status", "sent_at", "client_id"]),
    ("ix_outbox_client_sent", "outbox", ["client_id", "sent_at", "status", "manager_id", "kind", "created_at"]),
    ("ix_chat_messages_inbound", "chat_messages", ["direction", "created_at", "client_id"]),
    ("ix_chat_messages_answers", "chat_messages", ["author", "created_at", "outcome", "client_id", "conversation_id"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
