"""API keys and roles: random keys shown once, kept only as SHA-256 hashes, revocable."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy.orm import Session

from decisions import store

PREFIX = "tgt_"


class Role(StrEnum):
    SCORER = "scorer"  # score entries
    REVIEWER = "reviewer"  # read decisions, record outcomes and waivers
    ADMIN = "admin"  # everything, and models, keys and policy


class KeyRefused(ValueError):
    """A key cannot be created as asked."""


class KeyExists(KeyRefused):
    """Names are unique, revoked keys' included."""


class NoSuchKey(LookupError):
    pass


class LastAdmin(KeyRefused):
    """Revoking the last live admin key would leave nobody able to manage keys, the policy or models."""


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role

    def may(self, allowed: tuple[Role, ...]) -> bool:
        return self.role is Role.ADMIN or self.role in allowed


def hash_key(key: str) -> str:
    # keys carry 256 random bits, so a fast hash is as safe as a slow one and costs nothing per request
    return hashlib.sha256(key.encode()).hexdigest()


def create(session: Session, name: str, role: Role, by: str) -> str:
    """Add a key and return it: the only time it exists outside the caller's hands. Adds and flushes."""
    name = name.strip()
    if not name or len(name) > 128:
        raise KeyRefused("a key's name is 1 to 128 characters")
    if store.api_key_named(session, name) is not None:
        raise KeyExists(f"a key named {name!r} exists already (names stay taken after revocation)")
    key = PREFIX + secrets.token_urlsafe(32)
    store.add_api_key(session, name, role.value, hash_key(key), key[: len(PREFIX) + 4], by)
    return key


def revoke(session: Session, name: str, by: str) -> None:
    """Revoke a key (`by`: the caller's key name, or the user of the command line); revoking it again changes
    nothing. Adds and flushes."""
    row = store.api_key_named(session, name)
    if row is None:
        raise NoSuchKey(f"no key named {name!r}")
    if row.revoked_at is None:
        if row.role == Role.ADMIN.value and store.live_admins(session) <= 1:
            raise LastAdmin(
                f"{name!r} is the last admin key: create another admin key before revoking it, or "
                "nobody could manage keys, the policy or models through the API"
            )
        row.revoked_at = datetime.now(UTC)
        row.revoked_by = by
        session.flush()


def identify(session: Session, key: str) -> Caller | None:
    """The caller a key belongs to, or None if it is unknown or revoked."""
    return caller_of(session, hash_key(key)) if key.startswith(PREFIX) else None


def caller_of(session: Session, key_hash: str) -> Caller | None:
    row = store.api_key_by_hash(session, key_hash)
    return Caller(row.name, Role(row.role)) if row is not None else None


def local_admin(session: Session, file: Path) -> tuple[str, bool]:
    """The local admin key kept in `file` (mode 600), made anew if the file is missing or its key is no
    longer valid; returns the key and whether it is new. Adds and flushes."""
    if file.exists():
        kept = file.read_text().strip()
        caller = identify(session, kept)
        if caller is not None and caller.role is Role.ADMIN:
            return kept, False
    key = create(session, f"local-admin-{datetime.now(UTC):%Y%m%dT%H%M%S%f}", Role.ADMIN, "targeting keys local")
    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key, True
