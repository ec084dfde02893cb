"""The counts measured success is computed from (decisions/performance.py): first decisions of a window grouped
by selection, lane and stratum, their outcomes grouped likewise, and the median delay to an outcome. Every
figure is a GROUP BY in the database; Python only combines the groups.

An entry counts once, by its first decision (the one that acted on it, which its outcome records), in the
window that decision falls in. The window is on `decided_at` (its index); the stratum is the column the
policy's random sample is stratified by: `port_of_entry`, or `entry_type` read from the entry's JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, Select, case, cast, exists, func, literal, select
from sqlalchemy.orm import Session, aliased

from decisions.performance import DecidedGroup, OutcomeGroup, Performance, summarise
from decisions.store import rollups
from decisions.store.decisions import Decision, Outcome

STRATA = ("entry_type", "port_of_entry")


def stratum_of(by: str | None) -> ColumnElement[Any]:
    """The stratum of a decision: a column, a field of its entry, or one stratum for all when unstratified."""
    if by is None:
        return literal("all")
    if by not in STRATA:
        raise ValueError(f"unknown stratum {by!r}: one of {', '.join(STRATA)}")
    if by == "port_of_entry":
        return Decision.port_of_entry.expression
    return Decision.entry[by].as_string()


def _window(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    return [Decision.decided_at >= start, Decision.decided_at < end]


def decided_query(start: datetime, end: datetime, by: str | None) -> Select[Any]:
    """Entries first decided in [start, end) (no earlier decision of the same entry), by selection, action and
    stratum."""
    earlier = aliased(Decision)
    first = ~exists().where(earlier.entry_id == Decision.entry_id, earlier.id < Decision.id)
    stratum = stratum_of(by).label("stratum")
    return (
        select(Decision.selection, Decision.action, stratum, func.count().label("n"))
        .where(*_window(start, end), first)
        .group_by(Decision.selection, Decision.action, stratum)
    )


def decided_groups(session: Session, start: datetime, end: datetime, by: str | None) -> list[DecidedGroup]:
    query = decided_query(start, end, by)
    return [DecidedGroup(r.selection, r.action, r.stratum, int(r.n)) for r in session.execute(query)]


def outcome_query(start: datetime, end: datetime, by: str | None) -> Select[Any]:
    """Outcomes of the entries first decided in [start, end) (an outcome records that decision), by why they
    were inspected and their decision's selection, action and stratum."""
    stratum = stratum_of(by).label("stratum")
    return (
        select(
            Outcome.selected_by,
            Decision.selection,
            Decision.action,
            stratum,
            func.count().label("n"),
            func.sum(case((Outcome.violation, 1), else_=0)).label("violations"),
            func.coalesce(func.sum(Outcome.revenue_recovered), 0.0).label("revenue"),
        )
        .join(Decision, Decision.id == Outcome.decision_id)
        .where(*_window(start, end))
        .group_by(Outcome.selected_by, Decision.selection, Decision.action, stratum)
    )


def outcome_groups(session: Session, start: datetime, end: datetime, by: str | None) -> list[OutcomeGroup]:
    query = outcome_query(start, end, by)
    return [
        OutcomeGroup(r.selected_by, r.selection, r.action, r.stratum, int(r.n), int(r.violations), float(r.revenue))
        for r in session.execute(query)
    ]


def _seconds_to_outcome(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return cast(func.extract("epoch", Outcome.inspected_at - Outcome.decided_at), Float)
    return (func.julianday(Outcome.inspected_at) - func.julianday(Outcome.decided_at)) * 86400.0


def median_seconds_to_outcome(session: Session, start: datetime, end: datetime, outcomes: int) -> float | None:
    """The median of `inspected_at - decided_at` (when the inspection ended, not when its outcome was typed in)
    over the `outcomes` outcomes of entries first decided in [start, end): the middle one or two of them, sorted
    by the database."""
    if outcomes <= 0:
        return None
    delay = _seconds_to_outcome(session.get_bind().dialect.name).label("delay")
    query = (  # the decision's time is copied into its outcome: no pass over the wide decision rows
        select(delay)
        .where(Outcome.decided_at >= start, Outcome.decided_at < end)
        .order_by(delay)
        .offset((outcomes - 1) // 2)
        .limit(2 - outcomes % 2)
    )
    middle = [float(v) for v in session.scalars(query)]
    return sum(middle) / len(middle) if middle else None


def _midnight(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _none(value: str) -> str | None:
    return value if value != rollups.NONE else None


def _daily(
    session: Session, start: datetime, end: datetime, by: str | None
) -> tuple[list[DecidedGroup], list[OutcomeGroup]]:
    """The groups of whole UTC days [start, end), from the daily counts."""
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    decided = [
        DecidedGroup(_none(r.selection), r.action, _none(r.stratum), int(r.n))
        for r in rollups.decided_rows(session, first, last, by)
    ]
    outcomes = [
        OutcomeGroup(
            r.selected_by, _none(r.selection), r.action, _none(r.stratum), int(r.n), int(r.violations), float(r.revenue)
        )  # fmt: skip
        for r in rollups.outcome_rows(session, first, last, by)
    ]
    return decided, outcomes


def performance(session: Session, start: datetime, end: datetime, by: str | None = "entry_type") -> Performance:
    """Every figure of measured success for entries first decided in [start, end), the random sample stratified
    by `by` (the policy's `exploration.by`)."""
    if start == _midnight(start) and end == _midnight(end):  # whole days: the daily counts (store/rollups.py)
        decided, outcomes = _daily(session, start, end, by)
    else:
        decided, outcomes = decided_groups(session, start, end, by), outcome_groups(session, start, end, by)
    median = median_seconds_to_outcome(session, start, end, sum(o.outcomes for o in outcomes))
    return summarise(start, end, decided, outcomes, median, by)


def revenue_per_inspection(session: Session, since: datetime, sources: tuple[str, ...]) -> tuple[int, float | None]:
    """Outcomes recorded since `since` of entries inspected for one of `sources` (`selected_by`), and the mean
    revenue they recovered (None without any)."""
    count, mean = session.execute(
        select(func.count(), func.avg(Outcome.revenue_recovered)).where(
            Outcome.recorded_at >= since, Outcome.selected_by.in_(sources)
        )
    ).one()
    return int(count), None if mean is None else float(mean)
