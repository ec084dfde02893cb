"""API keys (kept as hashes) and their roles."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Integer,
    String,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from decisions.store.base import Base, UtcDateTime


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
