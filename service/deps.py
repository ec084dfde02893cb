"""Dependencies injected into routes: settings, the loaded scorer, a database session, the caller's key."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
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


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_scorer(request: Request) -> Scorer:
    """The model serving when the request arrived: the request keeps it even if a reload swaps it."""
    scorer: Scorer = request.app.state.slot.scorer
    return scorer


def get_metrics(request: Request) -> Metrics:
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


def get_policy(request: Request, session: SessionDep) -> PolicyInForce:
    """The policy version in force now, read per request so that a new version applies without a restart."""
    row = store.active_policy(session)
    if row is None:
        raise RuntimeError("no policy in the database: the service seeds one at start")
    cache: dict[int, Policy] = request.app.state.policies
    if row.version not in cache:
        cache[row.version] = Policy.model_validate(row.document)
    settings: Settings = request.app.state.settings
    return PolicyInForce(row.version, cache[row.version], settings.sample_secret.encode())


def request_id(request: Request) -> str:
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

    def caller(self, session: Session, digest: str, during_outage: bool = False) -> Caller | None:
        """The key's caller, or None if it is unknown or revoked. When the database cannot answer, a route that
        allows it (`during_outage`) gets the last answer the database gave for this key; others get the error."""
        now = time.monotonic()
        hit = self._fresh.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
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
            self._fresh[digest] = (now + self.ttl, caller)
        return caller


def caller_of_hash(request: Request, session: Session, digest: str, during_outage: bool = False) -> Caller | None:
    """The caller of a key's hash, through the app's KeyBook."""
    book: KeyBook = request.app.state.key_book
    return book.caller(session, digest, during_outage)


def require(*allowed: Role, during_outage: bool = False) -> Callable[..., Caller]:
    """A dependency admitting keys of the given roles (admin always): 401 without a valid key, 403
    with a key of another role. With `during_outage`, a key the database accepted before is accepted while
    the database is unreachable."""

    def dependency(
        request: Request,
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Caller:
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(401, "an API key is required: send `Authorization: Bearer <key>`", challenge)
        key = credentials.credentials
        digest = keys.hash_key(key) if key.startswith(keys.PREFIX) else None
        caller = caller_of_hash(request, session, digest, during_outage) if digest else None
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
