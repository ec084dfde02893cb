"""Account-history profiles: counts of entries, inspections and violations per account."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
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

from decisions.store.base import Base
from decisions.store.dialects import DIALECTS, _as_list, _one_of


class Profile(Base):
    """An account's history as known now: entries filed, inspections and violations found."""

    __tablename__ = "profiles"

    entity: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    entries: Mapped[int] = mapped_column(Integer, default=0)
    inspections: Mapped[int] = mapped_column(Integer, default=0)
    violations: Mapped[int] = mapped_column(Integer, default=0)


_PROFILES = {
    d: select(Profile.entity, Profile.key, Profile.entries, Profile.inspections, Profile.violations).where(
        Profile.entity.in_(bindparam("entities", expanding=True)), _one_of(Profile.key, "keys", d)
    )
    for d in DIALECTS
}


def _bump_statement(dialect: str) -> Any:
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(Profile)
    return stmt.on_conflict_do_update(
        index_elements=[Profile.entity, Profile.key],
        set_={c: getattr(Profile, c) + getattr(stmt.excluded, c) for c in ("entries", "inspections", "violations")},
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


def add_entries(session: Session, keys: list[tuple[str, str]]) -> None:
    """Count one more filed entry for each (entity, key), creating profiles as needed."""
    _bump(session, keys, entries=1)


def add_inspection(session: Session, keys: list[tuple[str, str]], violation: bool) -> None:
    """Count one more inspection (and violation, if found) for each (entity, key)."""
    _bump(session, keys, inspections=1, violations=int(violation))


def _bump(
    session: Session, keys: list[tuple[str, str]], entries: int = 0, inspections: int = 0, violations: int = 0
) -> None:
    if not keys:
        return
    counted: dict[tuple[str, str], int] = {}
    for k in keys:
        counted[k] = counted.get(k, 0) + 1
    # in one order for every transaction: concurrent batches sharing accounts deadlocked on PostgreSQL when each
    # locked their profile rows in the order of its own entries (found by bench/http_load.py)
    values = [
        {"entity": e, "key": k, "entries": entries * n, "inspections": inspections * n, "violations": violations * n}
        for (e, k), n in sorted(counted.items())
    ]
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
