"""Dependencies injected into routes: settings, the loaded scorer, a database session, the caller's key."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from service import keys, store
from service.decide import PolicyInForce
from service.keys import Caller, Role
from service.observe import Metrics
from service.policy import Policy
from service.scoring import Scorer
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


def get_policy(request: Request, session: Annotated[Session, Depends(get_session)]) -> PolicyInForce:
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


def _caller(request: Request, session: Session, key: str) -> Caller | None:
    if not key.startswith(keys.PREFIX):
        return None
    return caller_of_hash(request, session, keys.hash_key(key))


def caller_of_hash(request: Request, session: Session, digest: str) -> Caller | None:
    """Look a key up by its hash, through a short cache (no key is kept in memory) so that a hot path does
    not query per request; a revocation takes effect within `key_cache_seconds`."""
    settings: Settings = request.app.state.settings
    cache: dict[str, tuple[float, Caller | None]] = request.app.state.key_cache
    now = time.monotonic()
    hit = cache.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    caller = keys.caller_of(session, digest)
    if settings.key_cache_seconds > 0:
        if len(cache) > 10_000:  # a flood of made-up keys must not grow memory without bound
            cache.clear()
        cache[digest] = (now + settings.key_cache_seconds, caller)
    return caller


def require(*allowed: Role) -> Callable[..., Caller]:
    """A dependency admitting keys of the given roles (admin always): 401 without a valid key, 403
    with a key of another role."""

    def dependency(
        request: Request,
        session: Annotated[Session, Depends(get_session)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Caller:
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(401, "an API key is required: send `Authorization: Bearer <key>`", challenge)
        caller = _caller(request, session, credentials.credentials)
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
SessionDep = Annotated[Session, Depends(get_session)]
RequestIdDep = Annotated[str, Depends(request_id)]
PolicyDep = Annotated[PolicyInForce, Depends(get_policy)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
AnyKey = Annotated[Caller, Depends(require(Role.SCORER, Role.REVIEWER))]
ScorerKey = Annotated[Caller, Depends(require(Role.SCORER))]
ReviewerKey = Annotated[Caller, Depends(require(Role.REVIEWER))]
AdminKey = Annotated[Caller, Depends(require())]
