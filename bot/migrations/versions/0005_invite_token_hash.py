"""invite tokens stored as their SHA-256, like sign-in tokens

Existing rows are hashed in place (the links already sent keep working: a redeemed token is
hashed and compared). Downgrading cannot recover the tokens: unused invites are deleted (the
clients get new ones).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    for row_id, token in conn.execute(sa.text("SELECT id, token FROM invite_tokens")).all():
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        conn.execute(sa.text("UPDATE invite_tokens SET token = :h WHERE id = :i"), {"h": digest, "i": row_id})
    with op.batch_alter_table("invite_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("uq_invite_tokens_token", type_="unique")
        batch_op.alter_column("token", new_column_name="token_hash", existing_type=sa.String(length=64),
                              existing_nullable=False)
    with op.batch_alter_table("invite_tokens", schema=None) as batch_op:  # a second pass: SQLite's copy
        batch_op.create_unique_constraint("uq_invite_tokens_token_hash", ["token_hash"])


def downgrade() -> None:
    op.get_bind().execute(sa.text("DELETE FROM invite_tokens WHERE used_at IS NULL"))
    with op.batch_alter_table("invite_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("uq_invite_tokens_token_hash", type_="unique")
        batch_op.alter_column("token_hash", new_column_name="token", existing_type=sa.String(length=64),
                              existing_nullable=False)
    with op.batch_alter_table("invite_tokens", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_invite_tokens_token", ["token"])
