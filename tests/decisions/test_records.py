"""A decision record carries every column of the decisions table but its id, so nothing decided is dropped on the
way to the store and a recorded decision reads back as the record that was written."""

from __future__ import annotations

from decisions.store import Decision
from decisions.store.decisions import RECORD_FIELDS


def test_a_record_has_the_decision_tables_columns_but_its_id() -> None:
    columns = [c.key for c in Decision.__table__.columns]
    assert columns[0] == "id"
    assert list(RECORD_FIELDS) == columns[1:]
