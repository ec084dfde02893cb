"""The desk's sign-in sessions, kept in the store: the browser holds a random token, the store only its SHA-256,
so that signing out, expiry and revoking the key end a session at once, wherever its cookie was copied to."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import ForeignKey, Integer, String, delete, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from decisions.store.base import Base, UtcDateTime
from decisions.store.keys import ApiKey

FORGET_AFTER = timedelta(days=30)  # ended and expired sessions are kept this long, then deleted


class DeskSession(Base):
    """A reviewer signed in to the desk with an API key."""

    __tablename__ = "desk_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))  # every form of the session carries it
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)  # signed out


def token_hash(token: str) -> str:
    # tokens carry 256 random bits: a fast hash is as safe as a slow one
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, key: ApiKey, lasts: timedelta) -> tuple[str, DeskSession]:
    """A new session of `key` and its token (the only copy is the caller's); forgets sessions long over. Adds
    and flushes."""
    now = datetime.now(UTC)
    session.execute(
        delete(DeskSession).where(
            or_(DeskSession.expires_at < now - FORGET_AFTER, DeskSession.ended_at < now - FORGET_AFTER)
        )
    )
    token = secrets.token_urlsafe(32)
    row = DeskSession(
        token_hash=token_hash(token),
        key_id=key.id,
        csrf=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + lasts,
    )
    session.add(row)
    session.flush()
    return token, row


def live(session: Session, token: str) -> tuple[DeskSession, ApiKey] | None:
    """The session of `token` and its key, if it has not ended, has not expired and its key is not revoked."""
    query = (
        select(DeskSession, ApiKey)
        .join(ApiKey, ApiKey.id == DeskSession.key_id)
        .where(
            DeskSession.token_hash == token_hash(token),
            DeskSession.ended_at.is_(None),
            DeskSession.expires_at > datetime.now(UTC),
            ApiKey.revoked_at.is_(None),
        )
    )
    found = session.execute(query).first()
    return (found[0], found[1]) if found is not None else None


def end(session: Session, token: str) -> bool:
    """Sign a session out; False if it had ended already. Flushes."""
    done = session.execute(
        update(DeskSession)
        .where(DeskSession.token_hash == token_hash(token), DeskSession.ended_at.is_(None))
        .values(ended_at=datetime.now(UTC))
    )
    return bool(getattr(done, "rowcount", 0))
