"""Desk sessions kept in the store (sign-out and revocation end them at once), and the key behind every write:
the key that set each policy version, and who revoked each key

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("desk_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_desk_sessions_key_id", ["key_id"], unique=False)
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by_key", sa.String(length=128), nullable=True))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_by", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("revoked_by")
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.drop_column("created_by_key")
    with op.batch_alter_table("desk_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_desk_sessions_key_id")
    op.drop_table("desk_sessions")
