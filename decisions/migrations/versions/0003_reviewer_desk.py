"""The reviewers' desk: decisions carry the importer, port and likely violation pattern as columns, with the
indexes the queue sorts and filters by, and one on decided_at for date ranges and drift

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 06:05:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from decisions.patterns import strongest

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# the least evidence that named a pattern when this revision was written (decisions/patterns.py has since asked more)
BACKFILL_EVIDENCE = 0.05
FILTERS = ("action", "risk_band", "port_of_entry", "importer_id", "likely_violation")
CHUNK = 5_000


def _backfill() -> None:
    """Fill the new columns of decisions recorded before this revision, from their entry and contributions."""
    bind = op.get_bind()
    field = "entry->>'{}'" if bind.dialect.name == "postgresql" else "json_extract(entry, '$.{}')"
    bind.execute(sa.text(f"UPDATE decisions SET importer_id = {field.format('importer_id')}, "
                         f"port_of_entry = {field.format('port_of_entry')}"))  # fmt: skip
    decisions = sa.table("decisions", sa.column("id", sa.Integer), sa.column("contributions", sa.Text),
                         sa.column("likely_violation", sa.String))  # fmt: skip
    last = 0
    while True:
        rows = bind.execute(
            sa.text("SELECT id, contributions FROM decisions WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": CHUNK},
        ).all()
        if not rows:
            return
        updates = []
        for id_, contributions in rows:
            parsed = contributions if isinstance(contributions, list) else json.loads(contributions)
            found = strongest((c for c in parsed if "feature" in c and "contribution" in c), BACKFILL_EVIDENCE)
            if found is not None:
                updates.append({"b_id": id_, "pattern": found[0].value})
        if updates:
            bind.execute(decisions.update().where(decisions.c.id == sa.bindparam("b_id"))
                         .values(likely_violation=sa.bindparam("pattern")), updates)  # fmt: skip
        last = rows[-1][0]


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("importer_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("port_of_entry", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("likely_violation", sa.String(length=32), nullable=True))
    _backfill()
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index("ix_decisions_decided_at", ["decided_at"], unique=False)
        batch_op.create_index("ix_decisions_score", ["score", "id"], unique=False)
        for column in FILTERS:
            batch_op.create_index(f"ix_decisions_{column}_score", [column, "score", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        for column in FILTERS:
            batch_op.drop_index(f"ix_decisions_{column}_score")
        batch_op.drop_index("ix_decisions_score")
        batch_op.drop_index("ix_decisions_decided_at")
        batch_op.drop_column("likely_violation")
        batch_op.drop_column("port_of_entry")
        batch_op.drop_column("importer_id")
