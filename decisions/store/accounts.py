"""Accounts: an importer, manufacturer, shipper or seller seen through its profile, its decisions and their
outcomes; the list of accounts by risk; importers' bonds.

An account's decisions are read through the party's column and its (column, id) index, newest first; the list
orders one kind's profiles by the risk level computed in SQL (decisions/accounts.py holds the formula)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, String, func, select, text, tuple_
from sqlalchemy.orm import Mapped, Session, mapped_column

from decisions.store.base import Base, UtcDateTime
from decisions.store.decisions import PARTIES, Decision, Outcome, Waiver
from decisions.store.desk import QUEUE_COLUMNS
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


def _first_decisions(column: Any, key: str) -> Any:
    """The ids of the first decision on each of an account's entries (one per entry, whatever the models)."""
    return select(func.min(Decision.id)).where(column == key).group_by(Decision.entry_id)


@dataclass(frozen=True)
class AccountFacts:
    """What the store knows of one account."""

    profile: tuple[int, int, int, int, float] | None  # entries, inspections, violations, scored, score sum
    decided: int  # entries decided here
    first_seen: datetime | None
    last_seen: datetime | None
    at_stake: float  # expected revenue of the entries decided since `since`
    recovered: float  # revenue recovered by inspections of its entries
    violation_types: dict[str, int]
    scores: list[tuple[datetime, float]]  # the latest decisions' scores, oldest first
    waivers: list[Any]  # rows: entry id, action, reason, waived by, waived at
    watchlist: WatchlistEntry | None
    bond: Bond | None


def account_facts(session: Session, kind: str, key: str, since: datetime, trend: int = 50) -> AccountFacts:
    column = getattr(Decision, party_column(kind))
    found = session.get(Profile, (party_column(kind), key))
    first = _first_decisions(column, key)
    decided, first_seen, last_seen = session.execute(
        select(func.count(), func.min(Decision.decided_at), func.max(Decision.decided_at)).where(Decision.id.in_(first))
    ).one()
    at_stake = session.scalar(
        select(func.coalesce(func.sum(Decision.expected_revenue), 0.0)).where(
            Decision.id.in_(first), Decision.decided_at >= since
        )
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


def exposures(session: Session, since: datetime) -> dict[str, tuple[float, float]]:
    """Each bonded importer's bond and the expected revenue of its entries decided since `since`."""
    held = {b.importer_id: b.amount_usd for b in bonds(session)}
    if not held:
        return {}
    first = select(func.min(Decision.id)).where(Decision.importer_id.in_(held)).group_by(Decision.entry_id)
    query = (
        select(Decision.importer_id, func.sum(Decision.expected_revenue))
        .where(Decision.id.in_(first), Decision.decided_at >= since)
        .group_by(Decision.importer_id)
    )
    at_stake = {k: float(v or 0.0) for k, v in session.execute(query)}
    return {k: (amount, at_stake.get(k, 0.0)) for k, amount in held.items()}


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


def recount_scores(session: Session) -> None:
    """Every profile's scored entries and score sum from the decisions on record (the first decision on each
    entry), as the scoring path counts them: after profiles are replaced by a loaded history."""
    session.execute(text("UPDATE profiles SET scored = 0, score_sum = 0"))
    for column in PARTIES:
        session.execute(
            text(
                f"UPDATE profiles SET scored = s.n, score_sum = s.total FROM ("  # noqa: S608 (column names are ours)
                f"SELECT {column} AS k, count(*) AS n, sum(score) AS total FROM decisions "
                f"WHERE id IN (SELECT min(id) FROM decisions GROUP BY entry_id) AND {column} IS NOT NULL "
                f"GROUP BY {column}) AS s WHERE profiles.entity = :entity AND profiles.key = s.k"
            ),
            {"entity": column},
        )
