"""Queries of the reviewers' desk: the queue of decisions by score, and the recent decisions drift is read from.

The queue pages by keyset (score, id), never by offset, so a page deep in a million decisions costs what the
first does; each filter column has an index that starts with it and ends with (score, id)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal_column, select, tuple_
from sqlalchemy.orm import Session

from decisions.store.base import UtcDateTime
from decisions.store.decisions import Decision, Outcome, Waiver

QUEUE_COLUMNS = (
    Decision.id,
    Decision.entry_id,
    Decision.score,
    Decision.action,
    Decision.risk_band,
    Decision.importer_id,
    Decision.port_of_entry,
    Decision.likely_violation,
    Decision.decided_at,
    Decision.model_version,
    Decision.selection,
)


@dataclass(frozen=True)
class QueueFilter:
    """What a reviewer narrows the queue to; empty fields do not filter."""

    actions: tuple[str, ...] = ()
    risk_band: str | None = None
    since: datetime | None = None  # decided at or after
    until: datetime | None = None  # decided before
    port_of_entry: str | None = None
    importer_id: str | None = None
    likely_violation: str | None = None

    @property
    def by_date_only(self) -> bool:
        """The filter narrows by date and by nothing with an index of its own."""
        dated = self.since is not None or self.until is not None
        return dated and not (
            self.actions or self.risk_band or self.port_of_entry or self.importer_id or self.likely_violation
        )

    def clauses(self, date_indexed: bool = True) -> list[Any]:
        """The WHERE terms; with `date_indexed` false the date terms cannot use the decided_at index (SQLite's
        unary +), so that the query walks the score index instead of sorting the whole range."""
        where: list[Any] = []
        if self.actions:
            where.append(Decision.action.in_(self.actions))
        for column in ("risk_band", "port_of_entry", "importer_id", "likely_violation"):
            value = getattr(self, column)
            if value:
                where.append(getattr(Decision, column) == value)
        decided = Decision.decided_at if date_indexed else literal_column("+decisions.decided_at", UtcDateTime())
        if self.since is not None:
            where.append(decided >= self.since)
        if self.until is not None:
            where.append(decided < self.until)
        return where


# SQLite keeps no statistics, so for a date range it always reads the range by date and sorts it by score: 400 ms
# for 30 days of a million decisions (bench/desk.py). Past this many decisions in the range, walking the score
# index and skipping the other dates finds a page sooner; PostgreSQL's planner makes that choice itself.
SORT_AT_MOST = 20_000


def _date_indexed(session: Session, where: QueueFilter, sort_at_most: int) -> bool:
    if session.get_bind().dialect.name != "sqlite" or not where.by_date_only:
        return True
    in_range = select(Decision.id).where(*where.clauses()).limit(sort_at_most + 1)  # counted on the date index
    return int(session.scalar(select(func.count()).select_from(in_range.subquery())) or 0) <= sort_at_most


@dataclass(frozen=True)
class Page:
    rows: list[Any]  # rows of QUEUE_COLUMNS
    newer: tuple[float, int] | None  # the cursor of the page before, if there is one
    older: tuple[float, int] | None  # the cursor of the page after
    outcomes: dict[str, bool] = field(default_factory=dict)  # entry id -> violation found, for entries with one
    waived: set[int] = field(default_factory=set)  # ids of the page's decisions that have a waiver


def queue(
    session: Session,
    where: QueueFilter,
    size: int,
    after: tuple[float, int] | None = None,
    before: tuple[float, int] | None = None,
    sort_at_most: int = SORT_AT_MOST,
) -> Page:
    """One page of decisions, highest score first: the first, the one after cursor `after` (the last row of
    the page shown), or the one before cursor `before` (its first row)."""
    key = tuple_(Decision.score, Decision.id)
    query = select(*QUEUE_COLUMNS).where(*where.clauses(_date_indexed(session, where, sort_at_most)))
    if before is not None:
        query = query.where(key > tuple_(*before)).order_by(Decision.score, Decision.id)
    else:
        if after is not None:
            query = query.where(key < tuple_(*after))
        query = query.order_by(Decision.score.desc(), Decision.id.desc())
    rows: list[Any] = list(session.execute(query.limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    if before is not None:
        rows.reverse()
    if not rows:
        return Page(rows, None, None)
    first, last = (rows[0].score, rows[0].id), (rows[-1].score, rows[-1].id)
    newer = first if (before is not None and more) or after is not None else None
    older = last if more or before is not None else None
    ids = [r.entry_id for r in rows]
    outcomes = select(Outcome.entry_id, Outcome.violation).where(Outcome.entry_id.in_(ids))
    found = {entry_id: violation for entry_id, violation in session.execute(outcomes)}
    waived = set(session.scalars(select(Waiver.decision_id).where(Waiver.decision_id.in_([r.id for r in rows]))))
    return Page(rows, newer, older, found, waived)


def recent_inputs(
    session: Session, model_name: str, version: int, since: datetime, limit: int
) -> list[tuple[float, list[dict[str, Any]]]]:
    """Score and contributions (with each feature's model input) of a model version's latest decisions since
    `since`, at most `limit`, newest first."""
    query = (
        select(Decision.score, Decision.contributions)
        .where(Decision.model_name == model_name, Decision.model_version == version, Decision.decided_at >= since)
        .order_by(Decision.decided_at.desc())
        .limit(limit)
    )
    return [(s, c) for s, c in session.execute(query).tuples()]


def decided_since(session: Session, model_name: str, version: int, since: datetime) -> bool:
    """Whether a model version has decided any entry since `since` (one indexed look)."""
    query = (
        select(Decision.id)
        .where(Decision.model_name == model_name, Decision.model_version == version, Decision.decided_at >= since)
        .limit(1)
    )
    return session.execute(query).first() is not None
