"""catalogue eligibility: product currency and target segments; the occasion keys of a composed draft; per-language campaign templates

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("currency", sa.String(length=3), nullable=False, server_default="CNY"))
        batch_op.add_column(sa.Column("segments", sa.String(length=64), nullable=True))
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            "part_keys", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True))
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            "template_overrides", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("template_overrides")
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_column("part_keys")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("segments")
        batch_op.drop_column("currency")
