from __future__ import annotations

from fastapi import APIRouter

from decisions import store
from service.deps import AdminKey, ReviewerKey, SessionDep
from service.schemas import AUTH_ERRORS, BODY_ERRORS, PolicyIn, PolicyOut

router = APIRouter(tags=["policy"])


def _out(row: store.PolicyVersion) -> PolicyOut:
    return PolicyOut(
        version=row.version,
        created_at=row.created_at,
        created_by=row.created_by,
        note=row.note,
        created_by_key=row.created_by_key,
        policy=row.document,
    )


@router.get("/v1/policy", response_model=PolicyOut, responses=AUTH_ERRORS)
def read_policy(session: SessionDep, caller: ReviewerKey) -> PolicyOut:
    """The policy version in force: objective, thresholds and the random compliance sample."""
    row = store.active_policy(session)
    if row is None:
        raise RuntimeError("no policy in the database: the service seeds one at start")
    return _out(row)


@router.put("/v1/policy", response_model=PolicyOut, status_code=201, responses={**AUTH_ERRORS, **BODY_ERRORS})
def set_policy(body: PolicyIn, session: SessionDep, caller: AdminKey) -> PolicyOut:
    """Make a new policy version the one in force from the next request (admin). The version records the key
    that set it; `by` is kept beside it as given."""
    row = store.add_policy(session, body.policy.model_dump(mode="json"), body.by or caller.name, body.note, caller.name)
    session.commit()
    return _out(row)
