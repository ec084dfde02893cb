"""Decisions, their waivers and the outcomes of inspections: the tables and the scoring path's queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from decisions.store.base import Base, Json, UtcDateTime, table_of
from decisions.store.dialects import DIALECTS, _as_list, _one_of

QUEUE_FILTERS = ("action", "risk_band", "port_of_entry", "importer_id", "likely_violation")
PARTIES = ("importer_id", "manufacturer_id", "shipper_id", "seller_id")  # an account's decisions are read by these


class Decision(Base):
    """One entry scored by one model version: what was decided, when, why."""

    __tablename__ = "decisions"
    # the reviewers' queue is sorted by score, filtered by one of these columns (store/desk.py)
    __table_args__ = (
        UniqueConstraint("entry_id", "model_name", "model_version", name="uq_decision_entry_model"),
        Index("ix_decisions_score", "score", "id"),
        *(Index(f"ix_decisions_{c}_score", c, "score", "id") for c in QUEUE_FILTERS),
        *(Index(f"ix_decisions_{c}_id", c, "id") for c in PARTIES),
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
    manufacturer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    shipper_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seller_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    port_of_entry: Mapped[str | None] = mapped_column(String(16), nullable=True)
    likely_violation: Mapped[str | None] = mapped_column(String(32), nullable=True)  # decisions/patterns.py
    score: Mapped[float] = mapped_column(Float)
    raw_score: Mapped[float] = mapped_column(Float)
    base_value: Mapped[float] = mapped_column(Float)
    expected_revenue: Mapped[float | None] = mapped_column(Float, nullable=True)
    ranking: Mapped[str] = mapped_column(String(32))
    policy_version: Mapped[int] = mapped_column(Integer)
    selection: Mapped[str | None] = mapped_column(String(16), nullable=True)  # model, rule, random, explore or null
    selection_probability: Mapped[float] = mapped_column(Float)
    knowledge_gap: Mapped[float | None] = mapped_column(Float, nullable=True)  # decisions/explore.py; since 0006
    risk_band: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    contributions: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(Json)


@dataclass(kw_only=True)
class DecisionRecord:
    """A decision as the scoring path makes it, answers it and writes it: the columns of `Decision` but its id.
    Plain (not frozen, not slotted) so that its `vars` are the row `add_decisions` inserts, without a copy."""

    entry_id: str
    model_name: str
    model_version: int
    model_alias: str
    decided_at: datetime
    request_id: str
    entry: dict[str, Any]  # as the client sent it
    entry_digest: str
    importer_id: str | None
    manufacturer_id: str | None
    shipper_id: str | None
    seller_id: str | None
    port_of_entry: str | None
    likely_violation: str | None
    score: float
    raw_score: float
    base_value: float
    expected_revenue: float | None
    ranking: str
    policy_version: int
    selection: str | None
    selection_probability: float
    knowledge_gap: float | None
    risk_band: str
    action: str
    contributions: list[dict[str, Any]]
    reasons: list[dict[str, Any]]


RECORD_FIELDS = tuple(DecisionRecord.__dataclass_fields__)


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
    waiver = Waiver(
        decision_id=decision.id,
        action=action,
        reason=reason,
        waived_by=by,
        waived_at=datetime.now(UTC),
        recorded_by_key=key,
    )
    session.add(waiver)
    session.flush()
    return waiver


def waivers_of(session: Session, decision_id: int) -> list[Waiver]:
    """A decision's waivers, oldest first."""
    query = select(Waiver).where(Waiver.decision_id == decision_id).order_by(Waiver.waived_at, Waiver.id)
    return list(session.scalars(query))


_PRIOR = {
    d: select(Decision.id, Decision.entry_id, Decision.model_name, Decision.model_version).where(
        _one_of(Decision.entry_id, "ids", d)
    )
    for d in DIALECTS
}
_ADD_DECISIONS = insert(table_of(Decision))


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


RECENT = {"score": Decision.score, "expected_revenue": Decision.expected_revenue}


def recent_values(session: Session, column: str, window: int) -> np.ndarray:
    """The last `window` decisions' values of `score` or `expected_revenue`: the recent distribution."""
    field = RECENT[column]
    query = select(field).where(field.is_not(None)).order_by(Decision.id.desc()).limit(window)
    return np.fromiter(session.scalars(query), dtype=float)


def recent_gap(session: Session, window: int) -> tuple[int, float]:
    """How many of the last `window` decisions carry a knowledge gap, and their mean gap (0 without any): summed in
    the database, not carried over to the worker."""
    latest = (
        select(Decision.knowledge_gap.label("gap"))
        .where(Decision.knowledge_gap.is_not(None))
        .order_by(Decision.id.desc())
        .limit(window)
        .subquery()
    )
    count, mean = session.execute(select(func.count(), func.avg(latest.c.gap))).one()
    return int(count), float(mean or 0.0)


def as_record(decision: Decision) -> DecisionRecord:
    """A recorded decision as the scoring path made it."""
    return DecisionRecord(**{f: getattr(decision, f) for f in RECORD_FIELDS})


def add_decisions(session: Session, records: list[DecisionRecord]) -> None:
    """Record decisions: one executemany of their fields, without building ORM objects, which cost more
    per row than scoring does."""
    if records:  # a Core insert given no rows would insert one row of defaults
        session.execute(_ADD_DECISIONS, [vars(r) for r in records])


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
    # the decision's, copied: measured success reads the delay to an outcome without the wide decision rows
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True, index=True)


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
