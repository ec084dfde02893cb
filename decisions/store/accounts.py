"""Accounts: an importer, manufacturer, shipper or seller seen through its profile, its decisions and their
outcomes; the list of accounts by risk; importers' bonds.

An account's decisions are read through the party's column and its (column, id) index, newest first; the list
orders one kind's profiles by the risk level computed in SQL (decisions/accounts.py holds the formula)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Date, Float, Integer, String, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from decisions.store.base import Base, UtcDateTime, table_of
from decisions.store.decisions import PARTIES, Decision, DecisionRecord, Outcome, Waiver
from decisions.store.desk import QUEUE_COLUMNS
from decisions.store.dialects import DIALECTS
from decisions.store.profiles import Profile
from decisions.store.watchlists import WatchlistEntry

KINDS = ("importer", "manufacturer", "shipper", "seller")


def party_column(kind: str) -> str:
    """The entry field, decision column and profile entity of a kind of account."""
    return f"{kind}_id"


class Bond(Base):
    """The customs bond an importer has posted: what the agency can recover if duties go unpaid."""

    __tablename__ = "bonds"

    importer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    amount_usd: Mapped[float] = mapped_column(Float)
    set_by: Mapped[str] = mapped_column(String(128))
    set_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AccountDay(Base):
    """What an account filed on one UTC day, counted as the scoring path decides each entry the first time: so
    that an account's totals and an importer's exposure are read from a few small rows, not its decisions."""

    __tablename__ = "account_days"

    entity: Mapped[str] = mapped_column(String(32), primary_key=True)  # a decision's party column
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    entries: Mapped[int] = mapped_column(Integer)
    score_sum: Mapped[float] = mapped_column(Float)
    expected_revenue: Mapped[float] = mapped_column(Float)  # their expected revenue at stake


def _bump_statement(dialect: str) -> Any:
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table_of(AccountDay))
    summed = ("entries", "score_sum", "expected_revenue")
    return stmt.on_conflict_do_update(
        index_elements=[AccountDay.entity, AccountDay.key, AccountDay.day],
        set_={c: getattr(AccountDay, c) + getattr(stmt.excluded, c) for c in summed},
    )


_BUMP = {dialect: _bump_statement(dialect) for dialect in DIALECTS}


def add_account_days(session: Session, records: list[DecisionRecord]) -> None:
    """Count decisions of entries decided the first time in their parties' days (one upsert)."""
    summed: dict[tuple[str, str, date], list[float]] = {}
    for r in records:
        day = r.decided_at.astimezone(UTC).date()
        for column in PARTIES:
            key = getattr(r, column)
            if key is not None:
                total = summed.setdefault((column, key, day), [0, 0.0, 0.0])
                total[0] += 1
                total[1] += r.score
                total[2] += r.expected_revenue or 0.0
    if summed:  # in one order for every transaction, as profiles are bumped (store/profiles.py)
        rows = [{"entity": e, "key": k, "day": d, "entries": int(n), "score_sum": s, "expected_revenue": x}
                for (e, k, d), (n, s, x) in sorted(summed.items())]  # fmt: skip
        session.execute(_BUMP[session.get_bind().dialect.name], rows)


def set_bond(session: Session, importer_id: str, amount_usd: float, by: str) -> Bond:
    bond = session.merge(Bond(importer_id=importer_id, amount_usd=amount_usd, set_by=by, set_at=datetime.now(UTC)))
    session.flush()
    return bond


def remove_bond(session: Session, importer_id: str) -> bool:
    bond = session.get(Bond, importer_id)
    if bond is None:
        return False
    session.delete(bond)
    session.flush()
    return True


def bonds(session: Session) -> list[Bond]:
    return list(session.scalars(select(Bond).order_by(Bond.importer_id)))


@dataclass(frozen=True)
class AccountFacts:
    """What the store knows of one account."""

    profile: tuple[int, int, int, int, float] | None  # entries, inspections, violations, scored, score sum
    decided: int  # entries decided here
    first_seen: date | None  # the days it was first and last decided on
    last_seen: date | None
    at_stake: float  # expected revenue of the entries decided since `since`
    recovered: float  # revenue recovered by inspections of its entries
    violation_types: dict[str, int]
    scores: list[tuple[datetime, float]]  # the latest decisions' scores, oldest first
    waivers: list[Any]  # rows: entry id, action, reason, waived by, waived at
    watchlist: WatchlistEntry | None
    bond: Bond | None


def account_facts(session: Session, kind: str, key: str, since: date, trend: int = 50) -> AccountFacts:
    column = getattr(Decision, party_column(kind))
    found = session.get(Profile, (party_column(kind), key))
    days = (AccountDay.entity == party_column(kind), AccountDay.key == key)
    decided, first_seen, last_seen = session.execute(
        select(
            func.coalesce(func.sum(AccountDay.entries), 0), func.min(AccountDay.day), func.max(AccountDay.day)
        ).where(*days)
    ).one()
    at_stake = session.scalar(
        select(func.coalesce(func.sum(AccountDay.expected_revenue), 0.0)).where(*days, AccountDay.day >= since)
    )
    outcomes = list(
        session.execute(
            select(Outcome.violation_types, Outcome.revenue_recovered)
            .join(Decision, Decision.id == Outcome.decision_id)
            .where(column == key)
        )
    )
    scores = session.execute(
        select(Decision.decided_at, Decision.score).where(column == key).order_by(Decision.id.desc()).limit(trend)
    ).all()
    waivers = session.execute(
        select(Decision.entry_id, Waiver.action, Waiver.reason, Waiver.waived_by, Waiver.waived_at)
        .join(Decision, Decision.id == Waiver.decision_id)
        .where(column == key)
        .order_by(Waiver.id.desc())
        .limit(20)
    ).all()
    return AccountFacts(
        profile=(found.entries, found.inspections, found.violations, found.scored, found.score_sum) if found else None,
        decided=int(decided),
        first_seen=first_seen,
        last_seen=last_seen,
        at_stake=float(at_stake or 0.0),
        recovered=float(sum(r for _, r in outcomes)),
        violation_types=dict(Counter(t for types, _ in outcomes for t in types).most_common()),
        scores=[(at, s) for at, s in reversed(scores)],
        waivers=list(waivers),
        watchlist=session.get(WatchlistEntry, (f"{kind}s", key)),
        bond=session.get(Bond, key) if kind == "importer" else None,
    )


def account_decisions(session: Session, kind: str, key: str, size: int, before: int | None = None) -> list[Any]:
    """One page of an account's decisions (rows of the queue's columns), newest first, before decision id
    `before` when given."""
    column = getattr(Decision, party_column(kind))
    query = select(*QUEUE_COLUMNS).where(column == key)
    if before is not None:
        query = query.where(Decision.id < before)
    return list(session.execute(query.order_by(Decision.id.desc()).limit(size)))


def mean_score(session: Session, kind: str) -> tuple[float | None, float | None]:
    """The mean score of a kind's decided entries, and its inspected entries' violation rate (None: none yet)."""
    scored, total, inspected, violations = session.execute(
        select(
            func.sum(Profile.scored),
            func.sum(Profile.score_sum),
            func.sum(Profile.inspections),
            func.sum(Profile.violations),
        ).where(Profile.entity == party_column(kind))
    ).one()
    return (total / scored if scored else None), (violations / inspected if inspected else None)


def exposures(session: Session, since: date, keys: list[str] | None = None) -> dict[str, tuple[float, float]]:
    """Bonded importers' bonds and the expected revenue of their entries decided since `since` (of `keys` only,
    when given)."""
    bonded = AccountDay.key.in_(keys) if keys is not None else AccountDay.key.in_(select(Bond.importer_id))
    at_stake = (  # the bonded importers' day buckets only, through the (entity, key, day) key
        select(AccountDay.key, func.sum(AccountDay.expected_revenue).label("total"))
        .where(AccountDay.entity == "importer_id", bonded, AccountDay.day >= since)
        .group_by(AccountDay.key)
    )
    window = at_stake.subquery()
    query = select(Bond.importer_id, Bond.amount_usd, func.coalesce(window.c.total, 0.0)).outerjoin(
        window, window.c.key == Bond.importer_id
    )
    if keys is not None:
        query = query.where(Bond.importer_id.in_(keys))
    return {k: (amount, float(total)) for k, amount, total in session.execute(query)}


def by_risk(
    session: Session,
    kind: str,
    risk: ColumnElement[Any],
    size: int,
    after: tuple[float, str] | None = None,
    only: list[str] | None = None,
) -> list[Any]:
    """One page of a kind's profiles, riskiest first (`risk` the expression over Profile), after cursor `after`
    (the last row's risk and key); `only` narrows to these keys. Rows: key, entries, inspections, violations,
    scored, score_sum, risk."""
    risk = risk.label("risk")
    query = select(
        Profile.key, Profile.entries, Profile.inspections, Profile.violations, Profile.scored, Profile.score_sum, risk
    ).where(Profile.entity == party_column(kind))
    if only is not None:
        query = query.where(Profile.key.in_(only))
    if after is not None:
        query = query.where(tuple_(risk, Profile.key) < tuple_(*after))
    return list(session.execute(query.order_by(risk.desc(), Profile.key.desc()).limit(size)))


def recount_from_decisions(session: Session) -> None:
    """Every profile's scored entries and score sum, and every account day, from the decisions on record (the
    first decision on each entry), as the scoring path counts them: after profiles are replaced by a loaded
    history, or decisions written by other means."""
    dialect = session.get_bind().dialect.name
    day = "(decided_at AT TIME ZONE 'UTC')::date" if dialect == "postgresql" else "date(decided_at)"
    first = "id IN (SELECT min(id) FROM decisions GROUP BY entry_id)"
    session.execute(text("UPDATE profiles SET scored = 0, score_sum = 0"))
    session.execute(text("DELETE FROM account_days"))
    for column in PARTIES:  # column names are ours, never input
        session.execute(
            text(
                f"UPDATE profiles SET scored = s.n, score_sum = s.total FROM ("  # noqa: S608
                f"SELECT {column} AS k, count(*) AS n, sum(score) AS total FROM decisions "
                f"WHERE {first} AND {column} IS NOT NULL GROUP BY {column}) AS s "
                "WHERE profiles.entity = :entity AND profiles.key = s.k"
            ),
            {"entity": column},
        )
        session.execute(
            text(
                "INSERT INTO account_days (entity, key, day, entries, score_sum, expected_revenue) "  # noqa: S608
                f"SELECT :entity, {column}, {day}, count(*), sum(score), coalesce(sum(expected_revenue), 0) "
                f"FROM decisions WHERE {first} AND {column} IS NOT NULL GROUP BY {column}, {day}"
            ),
            {"entity": column},
        )
