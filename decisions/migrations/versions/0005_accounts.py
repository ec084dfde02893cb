"""Accounts: decisions carry every party's id as a column (an account's decisions are read by it, newest first),
profiles sum the scores of their decided entries (the prior of the account risk level), and importers' bonds

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PARTIES = ("importer_id", "manufacturer_id", "shipper_id", "seller_id")
NEW = PARTIES[1:]  # importer_id is a column since 0003


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        for column in NEW:
            batch_op.add_column(sa.Column(column, sa.String(length=64), nullable=True))
    bind = op.get_bind()
    field = "entry->>'{}'" if bind.dialect.name == "postgresql" else "json_extract(entry, '$.{}')"
    bind.execute(sa.text("UPDATE decisions SET " + ", ".join(f"{c} = {field.format(c)}" for c in NEW)))
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        for column in PARTIES:
            batch_op.create_index(f"ix_decisions_{column}_id", [column, "id"], unique=False)
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scored", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("score_sum", sa.Float(), server_default="0", nullable=False))
    _backfill_scores(bind)
    op.create_table(
        "bonds",
        sa.Column("importer_id", sa.String(length=64), nullable=False),
        sa.Column("amount_usd", sa.Float(), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("importer_id"),
    )


def _backfill_scores(bind: sa.Connection) -> None:
    """Each party's decided entries (first decision per entry) into its profile's score sum."""
    for column in PARTIES:
        bind.execute(
            sa.text(
                f"UPDATE profiles SET scored = s.n, score_sum = s.total FROM ("  # noqa: S608 (column names are ours)
                f"SELECT {column} AS k, count(*) AS n, sum(score) AS total FROM decisions "
                f"WHERE id IN (SELECT min(id) FROM decisions GROUP BY entry_id) AND {column} IS NOT NULL "
                f"GROUP BY {column}) AS s WHERE profiles.entity = '{column}' AND profiles.key = s.k"
            )
        )


def downgrade() -> None:
    op.drop_table("bonds")
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_column("score_sum")
        batch_op.drop_column("scored")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        for column in PARTIES:
            batch_op.drop_index(f"ix_decisions_{column}_id")
        for column in NEW:
            batch_op.drop_column(column)
