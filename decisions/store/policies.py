"""The targeting policy's versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from decisions.store.base import Base, Json, UtcDateTime


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


_IN_FORCE = select(func.max(PolicyVersion.version))


def policy_in_force(session: Session) -> int | None:
    """The version in force (the newest), without its document: the cheap check a request makes."""
    return session.execute(_IN_FORCE).scalar()


def policy_document(session: Session, version: int) -> dict[str, Any]:
    row = session.get(PolicyVersion, version)
    if row is None:
        raise LookupError(f"no policy version {version}")
    return row.document


def ensure_policy(session: Session, document: dict[str, Any]) -> PolicyVersion:
    """The active policy; `document` becomes version 1 of a database that has none (flushed, not committed)."""
    return active_policy(session) or add_policy(session, document, "service start", "from settings")


def add_policy(
    session: Session, document: dict[str, Any], created_by: str, note: str = "", key: str | None = None
) -> PolicyVersion:
    """Add a new policy version, in force from now, set through API key `key` (None: from the command line or
    the service's settings); adds and flushes."""
    row = PolicyVersion(
        document=document, created_at=datetime.now(UTC), created_by=created_by, note=note, created_by_key=key
    )
    session.add(row)
    session.flush()
    return row
