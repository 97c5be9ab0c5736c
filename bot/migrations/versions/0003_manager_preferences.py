"""manager preferences: console and Telegram language, English signature, canned replies

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("managers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=5), nullable=False, server_default="zh"))
        batch_op.add_column(sa.Column("signature_en", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column(
            "canned_replies", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("managers", schema=None) as batch_op:
        batch_op.drop_column("canned_replies")
        batch_op.drop_column("signature_en")
        batch_op.drop_column("language")
