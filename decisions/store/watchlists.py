"""Admin-managed lists of parties that policy rules refer to."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    String,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from decisions.store.base import Base, UtcDateTime


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
    session.merge(
        WatchlistEntry(list_name=list_name, value=value, reason=reason, added_by=by, added_at=datetime.now(UTC))
    )
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
