"""Accounts: decisions carry every party's id as a column (an account's decisions are read by it, newest first),
profiles sum the scores of their decided entries (the prior of the account risk level), account days count each
party's decided entries per day, and importers' bonds; measured success's daily counts of first decisions and
of outcomes, and each outcome's decision time

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
    op.create_table(
        "account_days",
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("score_sum", sa.Float(), nullable=False),
        sa.Column("expected_revenue", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("entity", "key", "day"),
    )
    _backfill(bind)
    _measured_success(bind)
    op.create_table(
        "bonds",
        sa.Column("importer_id", sa.String(length=64), nullable=False),
        sa.Column("amount_usd", sa.Float(), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("importer_id"),
    )


def _backfill(bind: sa.Connection) -> None:
    """Each party's decided entries (the first decision on each entry) into its profile's score sum and its days."""
    day = "(decided_at AT TIME ZONE 'UTC')::date" if bind.dialect.name == "postgresql" else "date(decided_at)"
    first = "id IN (SELECT min(id) FROM decisions GROUP BY entry_id)"
    for column in PARTIES:  # column names are ours, never input
        bind.execute(
            sa.text(
                f"UPDATE profiles SET scored = s.n, score_sum = s.total FROM ("  # noqa: S608
                f"SELECT {column} AS k, count(*) AS n, sum(score) AS total FROM decisions "
                f"WHERE {first} AND {column} IS NOT NULL GROUP BY {column}) AS s "
                "WHERE profiles.entity = :entity AND profiles.key = s.k"
            ),
            {"entity": column},
        )
        bind.execute(
            sa.text(
                "INSERT INTO account_days (entity, key, day, entries, score_sum, expected_revenue) "  # noqa: S608
                f"SELECT :entity, {column}, {day}, count(*), sum(score), coalesce(sum(expected_revenue), 0) "
                f"FROM decisions WHERE {first} AND {column} IS NOT NULL GROUP BY {column}, {day}"
            ),
            {"entity": column},
        )


def _measured_success(bind: sa.Connection) -> None:
    keys = [sa.Column("day", sa.Date(), nullable=False)]
    strata = [sa.Column(c, sa.String(length=n), nullable=False) for c, n in (("entry_type", 8), ("port_of_entry", 16))]
    op.create_table(
        "decided_days", *keys, sa.Column("selection", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False), *strata,
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "selection", "action", "entry_type", "port_of_entry"),
    )  # fmt: skip
    op.create_table(
        "outcome_days", sa.Column("day", sa.Date(), nullable=False),
        sa.Column("selected_by", sa.String(length=16), nullable=False),
        sa.Column("selection", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        *[sa.Column(c, sa.String(length=n), nullable=False) for c, n in (("entry_type", 8), ("port_of_entry", 16))],
        sa.Column("outcomes", sa.Integer(), nullable=False), sa.Column("violations", sa.Integer(), nullable=False),
        sa.Column("revenue_recovered", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("day", "selected_by", "selection", "action", "entry_type", "port_of_entry"),
    )  # fmt: skip
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_outcomes_decided_at", ["decided_at"], unique=False)
    bind.execute(
        sa.text("UPDATE outcomes SET decided_at = (SELECT decided_at FROM decisions WHERE decisions.id = decision_id)")
    )
    postgres = bind.dialect.name == "postgresql"
    day = "(d.decided_at AT TIME ZONE 'UTC')::date" if postgres else "date(d.decided_at)"
    kind = "coalesce(d.entry->>'entry_type', '')" if postgres else "coalesce(json_extract(d.entry, '$.entry_type'), '')"
    rest = f"coalesce(d.selection, ''), d.action, {kind}, coalesce(d.port_of_entry, '')"
    first = "d.id IN (SELECT min(id) FROM decisions GROUP BY entry_id)"
    bind.execute(sa.text(
        "INSERT INTO decided_days (day, selection, action, entry_type, port_of_entry, entries) "  # noqa: S608
        f"SELECT {day}, {rest}, count(*) FROM decisions d WHERE {first} GROUP BY {day}, {rest}"
    ))  # fmt: skip
    bind.execute(sa.text(
        "INSERT INTO outcome_days (day, selected_by, selection, action, entry_type, port_of_entry, outcomes, "
        "violations, revenue_recovered) "  # noqa: S608
        f"SELECT {day}, o.selected_by, {rest}, count(*), sum(CASE WHEN o.violation THEN 1 ELSE 0 END), "
        f"sum(o.revenue_recovered) FROM outcomes o JOIN decisions d ON d.id = o.decision_id "
        f"GROUP BY {day}, o.selected_by, {rest}"
    ))  # fmt: skip


def downgrade() -> None:
    op.drop_table("bonds")
    op.drop_table("outcome_days")
    op.drop_table("decided_days")
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.drop_index("ix_outcomes_decided_at")
        batch_op.drop_column("decided_at")
    op.drop_table("account_days")
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_column("score_sum")
        batch_op.drop_column("scored")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        for column in PARTIES:
            batch_op.drop_index(f"ix_decisions_{column}_id")
        for column in NEW:
            batch_op.drop_column(column)
