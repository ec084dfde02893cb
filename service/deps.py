"""Dependencies injected into routes: settings, the loaded scorer, a database session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from service import store
from service.decide import PolicyInForce
from service.policy import Policy
from service.scoring import Scorer
from service.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_scorer(request: Request) -> Scorer:
    scorer: Scorer = request.app.state.scorer
    return scorer


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


SettingsDep = Annotated[Settings, Depends(get_settings)]
ScorerDep = Annotated[Scorer, Depends(get_scorer)]
SessionDep = Annotated[Session, Depends(get_session)]
RequestIdDep = Annotated[str, Depends(request_id)]
PolicyDep = Annotated[PolicyInForce, Depends(get_policy)]
