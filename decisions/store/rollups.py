"""Daily counts kept as decisions and outcomes are written, so that measured success over whole UTC days reads a
few thousand small rows instead of every decision of the window (decisions/store/performance.py).

`decided_days` counts the entries first decided on a day by selection, action and both strata the random sample
may use; `outcome_days` counts their outcomes by the day of the decision they record (the entry's first), why
they were inspected, and the decision's selection, action and strata. An absent value is kept as ""."""

from __future__ import annotations

from datetime import UTC, date
from typing import Any

from sqlalchemy import Date, Float, Integer, String, func, literal, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from decisions.store.base import Base, table_of
from decisions.store.decisions import Decision, DecisionRecord, Outcome
from decisions.store.dialects import DIALECTS

NONE = ""


class DecidedDay(Base):
    __tablename__ = "decided_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    selection: Mapped[str] = mapped_column(String(16), primary_key=True)
    action: Mapped[str] = mapped_column(String(32), primary_key=True)
    entry_type: Mapped[str] = mapped_column(String(8), primary_key=True)
    port_of_entry: Mapped[str] = mapped_column(String(16), primary_key=True)
    entries: Mapped[int] = mapped_column(Integer)


class OutcomeDay(Base):
    __tablename__ = "outcome_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)  # of the decision the outcome records
    selected_by: Mapped[str] = mapped_column(String(16), primary_key=True)
    selection: Mapped[str] = mapped_column(String(16), primary_key=True)
    action: Mapped[str] = mapped_column(String(32), primary_key=True)
    entry_type: Mapped[str] = mapped_column(String(8), primary_key=True)
    port_of_entry: Mapped[str] = mapped_column(String(16), primary_key=True)
    outcomes: Mapped[int] = mapped_column(Integer)
    violations: Mapped[int] = mapped_column(Integer)
    revenue_recovered: Mapped[float] = mapped_column(Float)


def _upsert(table: type[Base], keys: tuple[str, ...], summed: tuple[str, ...], dialect: str) -> Any:
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table_of(table))
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: getattr(table, c) + getattr(stmt.excluded, c) for c in summed}
    )


DECIDED_KEYS = ("day", "selection", "action", "entry_type", "port_of_entry")
OUTCOME_KEYS = ("day", "selected_by", "selection", "action", "entry_type", "port_of_entry")
OUTCOME_SUMS = ("outcomes", "violations", "revenue_recovered")
_DECIDED = {d: _upsert(DecidedDay, DECIDED_KEYS, ("entries",), d) for d in DIALECTS}
_OUTCOMES = {d: _upsert(OutcomeDay, OUTCOME_KEYS, OUTCOME_SUMS, d) for d in DIALECTS}


def _strata(entry: dict[str, Any], port: str | None) -> tuple[str, str]:
    kind = entry.get("entry_type")
    return (NONE if kind is None else str(kind)), port or NONE


def add_decided_days(session: Session, first: list[DecisionRecord]) -> None:
    """Count entries decided the first time (one upsert, in one order for every transaction)."""
    counted: dict[tuple[Any, ...], int] = {}
    for r in first:
        key = (r.decided_at.astimezone(UTC).date(), r.selection or NONE, r.action, *_strata(r.entry, r.port_of_entry))
        counted[key] = counted.get(key, 0) + 1
    if counted:
        rows = [dict(zip(DECIDED_KEYS, key)) | {"entries": n} for key, n in sorted(counted.items())]
        session.execute(_DECIDED[session.get_bind().dialect.name], rows)


def add_outcome_day(session: Session, outcome: Outcome, decision: Decision) -> None:
    """Count an outcome by the decision it records."""
    key = (decision.decided_at.astimezone(UTC).date(), outcome.selected_by, decision.selection or NONE,
           decision.action, *_strata(decision.entry, decision.port_of_entry))  # fmt: skip
    row = dict(zip(OUTCOME_KEYS, key)) | {"outcomes": 1, "violations": int(outcome.violation),
                                          "revenue_recovered": outcome.revenue_recovered}  # fmt: skip
    session.execute(_OUTCOMES[session.get_bind().dialect.name], [row])


def recount_days(session: Session) -> None:
    """Both tables anew from the decisions and outcomes on record (first decision per entry), as the writing
    paths count them: for decisions and outcomes written by other means (a benchmark's fill)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    day = "(d.decided_at AT TIME ZONE 'UTC')::date" if postgres else "date(d.decided_at)"
    kind = "coalesce(d.entry->>'entry_type', '')" if postgres else "coalesce(json_extract(d.entry, '$.entry_type'), '')"
    rest = f"coalesce(d.selection, ''), d.action, {kind}, coalesce(d.port_of_entry, '')"
    first = "d.id IN (SELECT min(id) FROM decisions GROUP BY entry_id)"
    session.execute(text("DELETE FROM decided_days"))
    session.execute(text("DELETE FROM outcome_days"))
    session.execute(text(
        "INSERT INTO decided_days (day, selection, action, entry_type, port_of_entry, entries) "  # noqa: S608
        f"SELECT {day}, {rest}, count(*) FROM decisions d WHERE {first} GROUP BY {day}, {rest}"
    ))  # fmt: skip
    session.execute(text(
        "INSERT INTO outcome_days (day, selected_by, selection, action, entry_type, port_of_entry, outcomes, "
        "violations, revenue_recovered) "  # noqa: S608
        f"SELECT {day}, o.selected_by, {rest}, count(*), sum(CASE WHEN o.violation THEN 1 ELSE 0 END), "
        f"sum(o.revenue_recovered) FROM outcomes o JOIN decisions d ON d.id = o.decision_id "
        f"GROUP BY {day}, o.selected_by, {rest}"
    ))  # fmt: skip


def _stratum(table: type[DecidedDay] | type[OutcomeDay], by: str | None) -> Any:
    return literal("all") if by is None else getattr(table, by)


def decided_rows(session: Session, first: date, last: date, by: str | None) -> list[Any]:
    """Rows (selection, action, stratum, entries) of the days in [first, last)."""
    stratum = _stratum(DecidedDay, by).label("stratum")
    query = (
        select(DecidedDay.selection, DecidedDay.action, stratum, func.sum(DecidedDay.entries).label("n"))
        .where(DecidedDay.day >= first, DecidedDay.day < last)
        .group_by(DecidedDay.selection, DecidedDay.action, stratum)
    )
    return list(session.execute(query))


def outcome_rows(session: Session, first: date, last: date, by: str | None) -> list[Any]:
    """Rows (selected_by, selection, action, stratum, n, violations, revenue) of the days in [first, last)."""
    stratum = _stratum(OutcomeDay, by).label("stratum")
    o = OutcomeDay
    query = (
        select(
            o.selected_by,
            o.selection,
            o.action,
            stratum,
            func.sum(o.outcomes).label("n"),
            func.sum(o.violations).label("violations"),
            func.sum(o.revenue_recovered).label("revenue"),
        )  # fmt: skip
        .where(o.day >= first, o.day < last)
        .group_by(o.selected_by, o.selection, o.action, stratum)
    )
    return list(session.execute(query))
