"""Account-history profiles: counts of entries, inspections and violations per account."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    String,
    bindparam,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from decisions.store.base import Base, table_of
from decisions.store.dialects import DIALECTS, _as_list, _one_of


class Profile(Base):
    """An account's history as known now: entries filed, inspections and violations found."""

    __tablename__ = "profiles"

    entity: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    entries: Mapped[int] = mapped_column(Integer, default=0)
    inspections: Mapped[int] = mapped_column(Integer, default=0)
    violations: Mapped[int] = mapped_column(Integer, default=0)
    # the entries decided here (not those of a loaded history) and the sum of their scores: the prior of the
    # account's risk level (decisions/accounts.py)
    scored: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    score_sum: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")


_PROFILES = {
    d: select(Profile.entity, Profile.key, Profile.entries, Profile.inspections, Profile.violations).where(
        Profile.entity.in_(bindparam("entities", expanding=True)), _one_of(Profile.key, "keys", d)
    )
    for d in DIALECTS
}


BUMPED = ("entries", "inspections", "violations", "scored", "score_sum")


def _bump_statement(dialect: str) -> Any:
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table_of(Profile))
    return stmt.on_conflict_do_update(
        index_elements=[Profile.entity, Profile.key],
        set_={c: getattr(Profile, c) + getattr(stmt.excluded, c) for c in BUMPED},
    )


_BUMP = {dialect: _bump_statement(dialect) for dialect in DIALECTS}


def profile_counts(session: Session, keys: dict[str, list[str]]) -> dict[str, dict[str, tuple[int, int, int]]]:
    """Counts per entity for the given keys (unknown keys are absent), in one query."""
    out: dict[str, dict[str, tuple[int, int, int]]] = {entity: {} for entity in keys}
    wanted = {(entity, k) for entity, ks in keys.items() for k in ks}
    if wanted:
        dialect = session.get_bind().dialect.name
        params = {"entities": list(keys), "keys": _as_list(list({k for _, k in wanted}), dialect)}
        for entity, key, e, i, v in session.execute(_PROFILES[dialect], params):
            if (entity, key) in wanted:
                out[entity][key] = (e, i, v)
    return out


def add_entries(session: Session, scored: list[tuple[str, str, float]]) -> None:
    """Count one more decided entry, with its score, for each (entity, key, score), creating profiles as needed."""
    _bump(session, [((e, k), {"entries": 1, "scored": 1, "score_sum": s}) for e, k, s in scored])


def add_inspection(session: Session, keys: list[tuple[str, str]], violation: bool) -> None:
    """Count one more inspection (and violation, if found) for each (entity, key)."""
    _bump(session, [(k, {"inspections": 1, "violations": int(violation)}) for k in keys])


def _bump(session: Session, increments: list[tuple[tuple[str, str], dict[str, float]]]) -> None:
    if not increments:
        return
    summed: dict[tuple[str, str], dict[str, float]] = {}
    for account, add in increments:
        total = summed.setdefault(account, dict.fromkeys(BUMPED, 0))
        for column, value in add.items():
            total[column] += value
    # in one order for every transaction: concurrent batches sharing accounts deadlocked on PostgreSQL when each
    # locked their profile rows in the order of its own entries (found by bench/http_load.py)
    values = [{"entity": e, "key": k, **total} for (e, k), total in sorted(summed.items())]
    session.execute(_BUMP[session.get_bind().dialect.name], values)


def replace_profiles(session: Session, counts: dict[str, dict[str, tuple[int, int, int]]]) -> int:
    """Replace every profile with the given counts; returns how many were written."""
    session.query(Profile).delete()
    rows = [
        {"entity": entity, "key": key, "entries": e, "inspections": i, "violations": v}
        for entity, table in counts.items()
        for key, (e, i, v) in table.items()
    ]
    if rows:
        session.execute(insert(Profile), rows)
    return len(rows)


def profile_total(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Profile)) or 0)
