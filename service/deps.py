"""Dependencies injected into routes: settings, the loaded scorer, a database session, the caller's key."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from decisions import keys, store
from decisions.decide import PolicyInForce
from decisions.keys import Caller, Role
from decisions.policy import Policy
from model.scoring import Scorer
from service.observe import Metrics
from service.settings import Settings


# the dependencies that only read the app's state are coroutines: a plain function would cost each request a trip
# to the thread pool
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_scorer(request: Request) -> Scorer:
    """The model serving when the request arrived: the request keeps it even if a reload swaps it."""
    scorer: Scorer = request.app.state.slot.scorer
    return scorer


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; a write path commits explicitly before it answers."""
    session: Session = request.app.state.sessions()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# closed when the route function returns, before its answer is sent: the connection is back in the pool by the
# time the client can send its next request (the admission bound counts a request until then)
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


class Policies:
    """The policy in force: its version checked per request (one small query), so that a version written by
    anyone applies from the next request without a restart; its document read and validated once per version."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self._versions: dict[int, PolicyInForce] = {}

    def in_force(self, session: Session) -> PolicyInForce:
        version = store.policy_in_force(session)
        if version is None:
            raise RuntimeError("no policy in the database: the service seeds one at start")
        if version not in self._versions:
            policy = Policy.model_validate(store.policy_document(session, version))
            self._versions[version] = PolicyInForce(version, policy, self.secret)
        return self._versions[version]


def get_policy(request: Request, session: SessionDep) -> PolicyInForce:
    """The policy version in force now."""
    policies: Policies = request.app.state.policies
    return policies.in_force(session)


async def request_id(request: Request) -> str:
    rid: str = request.state.request_id
    return rid


bearer = HTTPBearer(auto_error=False, description="An API key: `targeting keys create --role ...`.")


class KeyBook:
    """Key lookups by hash, trusted for `ttl` seconds so that a hot path does not query per request (a revocation
    takes effect within that; no key is kept in memory, only hashes). The database's last answer for each live key
    is remembered too, for the few routes that must go on during a database outage (metrics)."""

    def __init__(self, ttl: float, most: int = 10_000) -> None:
        self.ttl = ttl
        self.most = most  # a flood of made-up keys must not grow memory without bound
        self._fresh: dict[str, tuple[float, Caller | None]] = {}
        self._known: dict[str, Caller] = {}

    def fresh(self, digest: str) -> tuple[bool, Caller | None]:
        """Whether the book trusts its last answer for this key still, and that answer."""
        hit = self._fresh.get(digest)
        return (True, hit[1]) if hit is not None and hit[0] > time.monotonic() else (False, None)

    def caller(self, session: Session, digest: str, during_outage: bool = False) -> Caller | None:
        """The key's caller, or None if it is unknown or revoked. When the database cannot answer, a route that
        allows it (`during_outage`) gets the last answer the database gave for this key; others get the error."""
        known, caller = self.fresh(digest)
        if known:
            return caller
        try:
            caller = keys.caller_of(session, digest)
        except (DBAPIError, PoolTimeout):
            if during_outage and digest in self._known:
                return self._known[digest]
            raise
        if caller is None:
            self._known.pop(digest, None)
        else:
            if len(self._known) >= self.most:
                self._known.clear()
            self._known[digest] = caller
        if self.ttl > 0:
            if len(self._fresh) >= self.most:
                self._fresh.clear()
            self._fresh[digest] = (time.monotonic() + self.ttl, caller)
        return caller


async def caller_of_hash(request: Request, digest: str, during_outage: bool = False) -> Caller | None:
    """The caller of a key's hash, through the app's KeyBook: from memory while its answer is fresh, else from the
    database in a worker thread."""
    book: KeyBook = request.app.state.key_book
    known, caller = book.fresh(digest)
    if known:
        return caller

    def lookup() -> Caller | None:
        with request.app.state.sessions() as session:
            return book.caller(session, digest, during_outage)

    return await run_in_threadpool(lookup)


def require(*allowed: Role, during_outage: bool = False) -> Callable[..., Awaitable[Caller]]:
    """A dependency admitting keys of the given roles (admin always): 401 without a valid key, 403
    with a key of another role. With `during_outage`, a key the database accepted before is accepted while
    the database is unreachable."""

    async def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Caller:
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(401, "an API key is required: send `Authorization: Bearer <key>`", challenge)
        key = credentials.credentials
        digest = keys.hash_key(key) if key.startswith(keys.PREFIX) else None
        caller = await caller_of_hash(request, digest, during_outage) if digest else None
        if caller is None:
            raise HTTPException(401, "unknown or revoked API key", challenge)
        if not caller.may(allowed):
            roles = " or ".join(r.value for r in (*allowed, Role.ADMIN))
            raise HTTPException(403, f"a {caller.role.value} key may not do this: it needs a {roles} key")
        request.state.caller = caller.name
        return caller

    return dependency


SettingsDep = Annotated[Settings, Depends(get_settings)]
ScorerDep = Annotated[Scorer, Depends(get_scorer)]
RequestIdDep = Annotated[str, Depends(request_id)]
PolicyDep = Annotated[PolicyInForce, Depends(get_policy)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
AnyKey = Annotated[Caller, Depends(require(Role.SCORER, Role.REVIEWER))]
ScorerKey = Annotated[Caller, Depends(require(Role.SCORER))]
ReviewerKey = Annotated[Caller, Depends(require(Role.REVIEWER))]
AdminKey = Annotated[Caller, Depends(require())]
ScrapeKey = Annotated[Caller, Depends(require(Role.SCORER, Role.REVIEWER, during_outage=True))]
