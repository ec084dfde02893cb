"""SQLAlchemy tables and queries: decisions, outcomes, account-history profiles, policies, API keys.
Functions add and flush; the caller owns the transaction. The schema changes only through a migration
(service/migrations)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.store.base import Base, Json, UtcDateTime

QUEUE_FILTERS = ("action", "risk_band", "port_of_entry", "importer_id", "likely_violation")


class Decision(Base):
    """One entry scored by one model version: what was decided, when, why."""

    __tablename__ = "decisions"
    # the reviewers' queue is sorted by score, filtered by one of these columns (store/desk.py)
    __table_args__ = (
        UniqueConstraint("entry_id", "model_name", "model_version", name="uq_decision_entry_model"),
        Index("ix_decisions_score", "score", "id"),
        *(Index(f"ix_decisions_{c}_score", c, "score", "id") for c in QUEUE_FILTERS),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(64), index=True)
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[int] = mapped_column(Integer)
    model_alias: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    entry: Mapped[dict[str, Any]] = mapped_column(Json)
    entry_digest: Mapped[str] = mapped_column(String(64))
    importer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # copied from `entry`, to filter on
    port_of_entry: Mapped[str | None] = mapped_column(String(16), nullable=True)
    likely_violation: Mapped[str | None] = mapped_column(String(32), nullable=True)  # service/patterns.py
    score: Mapped[float] = mapped_column(Float)
    raw_score: Mapped[float] = mapped_column(Float)
    base_value: Mapped[float] = mapped_column(Float)
    expected_revenue: Mapped[float | None] = mapped_column(Float, nullable=True)
    ranking: Mapped[str] = mapped_column(String(32))
    policy_version: Mapped[int] = mapped_column(Integer)
    selection: Mapped[str | None] = mapped_column(String(16), nullable=True)  # model, random, or released
    selection_probability: Mapped[float] = mapped_column(Float)
    risk_band: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    contributions: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(Json)


class Waiver(Base):
    """An officer's override of a decision's action; the decision itself is never changed."""

    __tablename__ = "waivers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(2000))
    waived_by: Mapped[str] = mapped_column(String(128))
    waived_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_by_key: Mapped[str | None] = mapped_column(String(128), nullable=True)  # the API key's name


def add_waiver(session: Session, decision: Decision, action: str, reason: str, by: str, key: str) -> Waiver:
    """Record an override of `decision` by officer `by` through API key `key`; adds and flushes."""
    waiver = Waiver(decision_id=decision.id, action=action, reason=reason, waived_by=by, waived_at=datetime.now(UTC),
                    recorded_by_key=key)  # fmt: skip
    session.add(waiver)
    session.flush()
    return waiver


def waivers_of(session: Session, decision_id: int) -> list[Waiver]:
    """A decision's waivers, oldest first."""
    query = select(Waiver).where(Waiver.decision_id == decision_id).order_by(Waiver.waived_at, Waiver.id)
    return list(session.scalars(query))


class WatchlistEntry(Base):
    """A party on an admin-managed list (importers, manufacturers, shippers, sellers)."""

    __tablename__ = "watchlists"

    list_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128), primary_key=True)
    reason: Mapped[str] = mapped_column(String(500))
    added_by: Mapped[str] = mapped_column(String(128))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())


def set_watchlisted(session: Session, list_name: str, value: str, reason: str, by: str) -> None:
    """Put a party on a list (or update why it is there); adds and flushes."""
    session.merge(WatchlistEntry(list_name=list_name, value=value, reason=reason, added_by=by,
                                 added_at=datetime.now(UTC)))  # fmt: skip
    session.flush()


def remove_watchlisted(session: Session, list_name: str, value: str) -> bool:
    entry = session.get(WatchlistEntry, (list_name, value))
    if entry is None:
        return False
    session.delete(entry)
    session.flush()
    return True


def watchlisted(session: Session, wanted: dict[str, list[str]]) -> set[tuple[str, str]]:
    """Which (list, value) pairs among those asked about are listed."""
    hits: set[tuple[str, str]] = set()
    for list_name, values in wanted.items():
        query = select(WatchlistEntry.value).where(
            WatchlistEntry.list_name == list_name, WatchlistEntry.value.in_(set(values))
        )
        hits |= {(list_name, v) for v in session.scalars(query)}
    return hits


class PolicyVersion(Base):
    """One version of the targeting policy; the newest is the one in force."""

    __tablename__ = "policies"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(128))  # who, as given (a name, or the user of the command line)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by_key: Mapped[str | None] = mapped_column(String(128), nullable=True)  # the API key; null from the CLI


def active_policy(session: Session) -> PolicyVersion | None:
    return session.scalars(select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(1)).first()


def ensure_policy(session: Session, document: dict[str, Any]) -> PolicyVersion:
    """The active policy; `document` becomes version 1 of a database that has none (flushed, not committed)."""
    return active_policy(session) or add_policy(session, document, "service start", "from settings")


def add_policy(session: Session, document: dict[str, Any], created_by: str, note: str = "",
               key: str | None = None) -> PolicyVersion:  # fmt: skip
    """Add a new policy version, in force from now, set through API key `key` (None: from the command line or
    the service's settings); adds and flushes."""
    row = PolicyVersion(document=document, created_at=datetime.now(UTC), created_by=created_by, note=note,
                        created_by_key=key)  # fmt: skip
    session.add(row)
    session.flush()
    return row


class Profile(Base):
    """An account's history as known now: entries filed, inspections and violations found."""

    __tablename__ = "profiles"

    entity: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    entries: Mapped[int] = mapped_column(Integer, default=0)
    inspections: Mapped[int] = mapped_column(Integer, default=0)
    violations: Mapped[int] = mapped_column(Integer, default=0)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, sqlite_synchronous: str = "NORMAL", pool_size: int | None = None,
                pool_timeout: float | None = None) -> Engine:  # fmt: skip
    """An engine for SQLite (file folder created, WAL journal) or PostgreSQL; `pool_size` connections at most
    (none beyond it), each waited for at most `pool_timeout` seconds, when given.

    SQLite's `synchronous`: NORMAL (with WAL) keeps every committed decision through a crash of the
    service, but not necessarily through a power cut of the machine, and commits in ~0.1 ms here; FULL
    keeps them through that too at ~3.7 ms per commit (an fsync). PostgreSQL follows the server's settings."""
    if sqlite_synchronous not in ("NORMAL", "FULL"):
        raise ValueError(f"sqlite synchronous must be NORMAL or FULL, not {sqlite_synchronous!r}")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # orjson: a decision's contributions serialise ten times faster than with the standard library
    pool: dict[str, Any] = {}
    if ":memory:" not in url:  # an in-memory SQLite database lives in one connection: no pool to size
        pool |= {"pool_size": pool_size, "max_overflow": 0} if pool_size is not None else {}
        pool |= {"pool_timeout": pool_timeout} if pool_timeout is not None else {}
    engine = create_engine(url, pool_pre_ping=True, json_serializer=_json, json_deserializer=orjson.loads, **pool)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cursor.close()

        _one_writer_at_a_time(engine)
    return engine


WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
SQLITE_BUSY_SECONDS = 5.0  # as PRAGMA busy_timeout above


def _one_writer_at_a_time(engine: Engine) -> None:
    """SQLite lets one transaction write at a time, and makes the others poll for the lock with growing sleeps
    (its busy handler), so under concurrent writes a few wait seconds while newcomers get in first. The threads of
    this process take turns on a lock instead, held from a transaction's first write to its end, and a writer
    waits only for the ones before it (bench/overload.py, 64 connections: p99 of the 200s about 1 s without the
    lock, under 0.2 s with it)."""
    lock = threading.Lock()
    held = "targeting_writer"

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if conn.info.get(held) or not statement.lstrip()[:7].upper().startswith(WRITES):
            return
        if not lock.acquire(timeout=SQLITE_BUSY_SECONDS):
            raise OperationalError(statement, parameters, sqlite3.OperationalError("database is locked"))
        conn.info[held] = True

    def _give(info: dict[str, Any]) -> None:
        if info.pop(held, False):
            lock.release()

    event.listen(engine, "commit", lambda conn: _give(conn.info))
    event.listen(engine, "rollback", lambda conn: _give(conn.info))
    # a connection handed back without either (a session closed mid-transaction) gives the turn back too
    event.listen(engine.pool, "checkin", lambda dbapi_connection, record: _give(record.info))


def ping(session: Session) -> None:
    session.execute(text("SELECT 1"))


# Statements of the scoring path, built once per dialect: building a statement costs more than running it.
# A list of values goes in as one parameter (a PostgreSQL array, or JSON that SQLite unnests), since
# rendering one placeholder per value costs SQLAlchemy about 30 µs each.
def _one_of(column: Any, name: str, dialect: str) -> Any:
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(String)))
    return column.in_(select(literal_column("value")).select_from(func.json_each(bindparam(name, type_=String))))


def _as_list(values: list[str], dialect: str) -> Any:
    return values if dialect == "postgresql" else orjson.dumps(values).decode()


DIALECTS = ("postgresql", "sqlite")
_PRIOR = {
    d: select(Decision.id, Decision.entry_id, Decision.model_name, Decision.model_version).where(
        _one_of(Decision.entry_id, "ids", d)
    )
    for d in DIALECTS
}
_PROFILES = {
    d: select(Profile.entity, Profile.key, Profile.entries, Profile.inspections, Profile.violations).where(
        Profile.entity.in_(bindparam("entities", expanding=True)), _one_of(Profile.key, "keys", d)
    )
    for d in DIALECTS
}
_ADD_DECISIONS = insert(Decision)


def _bump_statement(dialect: str) -> Any:
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(Profile)
    return stmt.on_conflict_do_update(
        index_elements=[Profile.entity, Profile.key],
        set_={c: getattr(Profile, c) + getattr(stmt.excluded, c) for c in ("entries", "inspections", "violations")},
    )


_BUMP = {dialect: _bump_statement(dialect) for dialect in DIALECTS}


def prior_decisions(
    session: Session, entry_ids: list[str], model_name: str, version: int
) -> tuple[set[str], dict[str, Decision]]:
    """The entry ids decided by any model before, and this model version's decisions of them by entry id."""
    dialect = session.get_bind().dialect.name
    found = session.execute(_PRIOR[dialect], {"ids": _as_list(entry_ids, dialect)}).all()
    mine = [row.id for row in found if row.model_name == model_name and row.model_version == version]
    decided = list(session.scalars(select(Decision).where(Decision.id.in_(mine)))) if mine else []
    return {row.entry_id for row in found}, {d.entry_id: d for d in decided}


def decisions_of_entry(session: Session, entry_id: str) -> list[Decision]:
    """Every decision on an entry, newest first."""
    query = (
        select(Decision).where(Decision.entry_id == entry_id).order_by(Decision.decided_at.desc(), Decision.id.desc())
    )
    return list(session.scalars(query))


def recent_values(session: Session, column: str, window: int) -> np.ndarray:
    """The last `window` decisions' values of `score` or `expected_revenue`: the recent distribution."""
    field = {"score": Decision.score, "expected_revenue": Decision.expected_revenue}[column]
    query = select(field).where(field.is_not(None)).order_by(Decision.id.desc()).limit(window)
    return np.fromiter(session.scalars(query), dtype=float)


def as_row(decision: Decision) -> dict[str, Any]:
    """A decision's columns, as `add_decisions` takes them."""
    return {c.key: getattr(decision, c.key) for c in Decision.__table__.columns}


def add_decisions(session: Session, rows: list[dict[str, Any]]) -> None:
    """Record decisions (column dicts): one executemany, without building ORM objects, which cost more
    per row than scoring does."""
    session.execute(_ADD_DECISIONS, rows)


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


def _bump(session: Session, keys: list[tuple[str, str]], entries: int = 0, inspections: int = 0,
          violations: int = 0) -> None:  # fmt: skip
    if not keys:
        return
    counted: dict[tuple[str, str], int] = {}
    for k in keys:
        counted[k] = counted.get(k, 0) + 1
    # in one order for every transaction: concurrent batches sharing accounts deadlocked on PostgreSQL when each
    # locked their profile rows in the order of its own entries (found by bench/http_load.py)
    values = [{"entity": e, "key": k, "entries": entries * n, "inspections": inspections * n,
               "violations": violations * n} for (e, k), n in sorted(counted.items())]  # fmt: skip
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


class AliasMove(Base):
    """One move of a registered model's alias (e.g. @champion): to which version, from which, by whom, why."""

    __tablename__ = "alias_moves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(128))
    alias: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    previous_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    moved_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    moved_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String())  # unbounded: a reason is as long as it needs to be
    forced: Mapped[bool] = mapped_column(default=False)  # the gate refused and someone overrode it
    metrics: Mapped[dict[str, Any]] = mapped_column(Json)


def record_alias_move(
    session: Session,
    *,
    model_name: str,
    alias: str,
    version: int,
    previous_version: int | None,
    moved_by: str,
    reason: str,
    forced: bool,
    metrics: dict[str, Any],
    moved_at: datetime | None = None,
) -> AliasMove:
    """Record one alias move (now, unless `moved_at` says when); adds and flushes, the caller commits."""
    move = AliasMove(
        model_name=model_name,
        alias=alias,
        version=version,
        previous_version=previous_version,
        moved_at=moved_at or datetime.now(UTC),
        moved_by=moved_by,
        reason=reason,
        forced=forced,
        metrics=metrics,
    )
    session.add(move)
    session.flush()
    return move


def alias_at(session: Session, model_name: str, alias: str, when: datetime) -> AliasMove | None:
    """The move that put `alias` where it was at `when` (the latest at or before it), or None if none was recorded."""
    query = (
        select(AliasMove)
        .where(AliasMove.model_name == model_name, AliasMove.alias == alias, AliasMove.moved_at <= when)
        .order_by(AliasMove.moved_at.desc(), AliasMove.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def alias_history(session: Session, model_name: str, alias: str) -> list[AliasMove]:
    """Every recorded move of an alias, oldest first."""
    query = (
        select(AliasMove)
        .where(AliasMove.model_name == model_name, AliasMove.alias == alias)
        .order_by(AliasMove.moved_at, AliasMove.id)
    )
    return list(session.scalars(query))


class Outcome(Base):
    """What the inspection of a decided entry found, and why the entry was inspected."""

    __tablename__ = "outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(64), unique=True)  # one inspection result per entry
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"), index=True)
    inspected_at: Mapped[datetime] = mapped_column(UtcDateTime())
    violation: Mapped[bool]
    violation_types: Mapped[list[str]] = mapped_column(Json)
    revenue_recovered: Mapped[float] = mapped_column(Float)
    selected_by: Mapped[str] = mapped_column(String(16))  # model, rule, random, officer
    note: Mapped[str] = mapped_column(String(2000))
    digest: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_by_key: Mapped[str] = mapped_column(String(128))


def outcome_of(session: Session, entry_id: str) -> Outcome | None:
    return session.scalars(select(Outcome).where(Outcome.entry_id == entry_id)).first()


def add_outcome(session: Session, outcome: Outcome) -> Outcome:
    session.add(outcome)
    session.flush()
    return outcome


def decisions_with_outcomes(session: Session) -> list[tuple[Decision, Outcome | None]]:
    """Each decided entry once (its first decision: the one that acted on it), with its outcome if any."""
    first = select(func.min(Decision.id)).group_by(Decision.entry_id).scalar_subquery()
    query = (
        select(Decision, Outcome)
        .outerjoin(Outcome, Outcome.entry_id == Decision.entry_id)
        .where(Decision.id.in_(first))
        .order_by(Decision.id)
    )
    return [(d, o) for d, o in session.execute(query)]


class ApiKey(Base):
    """A caller's key: only its SHA-256 is kept; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the key's first characters, to recognise it in a list
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)  # a key's name, or a CLI user


def add_api_key(session: Session, name: str, role: str, key_hash: str, prefix: str, by: str) -> ApiKey:
    row = ApiKey(name=name, role=role, key_hash=key_hash, prefix=prefix, created_at=datetime.now(UTC), created_by=by)
    session.add(row)
    session.flush()
    return row


def api_key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    """The live (unrevoked) key with this hash."""
    query = select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    return session.scalars(query).first()


def api_key_named(session: Session, name: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.name == name)).first()


def live_admins(session: Session) -> int:
    """How many admin keys are not revoked; their rows stay locked until the transaction ends (on PostgreSQL), so
    that two revocations at once cannot both see another admin left."""
    query = select(ApiKey.id).where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None)).with_for_update()
    return len(session.scalars(query).all())


def api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


# tables of their own modules, imported here so that the metadata (and migrations' comparison) holds them all
from service.store import sessions as sessions  # noqa: E402
