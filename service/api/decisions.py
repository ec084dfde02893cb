from __future__ import annotations

from fastapi import APIRouter, Response

from decisions import outcomes, review, store
from service.api.score import to_out
from service.deps import ReviewerKey, ScorerDep, SessionDep
from service.schemas import (
    AUTH_ERRORS,
    BODY_ERRORS,
    DecisionRecord,
    ErrorBody,
    OutcomeIn,
    OutcomeOut,
    WaiverIn,
    WaiverOut,
)

router = APIRouter(prefix="/v1", tags=["decisions"])


def _outcome_out(o: store.Outcome, replayed: bool = False) -> OutcomeOut:
    return OutcomeOut.model_validate(o).model_copy(update={"replayed": replayed})


# entry ids may hold "/" (features/schema.py PartyId), hence the path converters
@router.get(
    "/decisions/{entry_id:path}", response_model=DecisionRecord, responses={404: {"model": ErrorBody}, **AUTH_ERRORS}
)
def read_decision(
    entry_id: str, session: SessionDep, caller: ReviewerKey, model_version: int | None = None
) -> DecisionRecord:
    """The latest decision on an entry (or the one by `model_version`), with every feature's
    contribution, its waivers and the inspection's outcome."""
    d, others = review.decision_of(session, entry_id, model_version)
    earlier = [
        {
            "model": {"name": o.model_name, "version": o.model_version, "alias": o.model_alias},
            "decided_at": o.decided_at,
            "score": o.score,
            "action": o.action,
        }
        for o in others
    ]
    waivers = [
        {
            "action": w.action,
            "reason": w.reason,
            "waived_by": w.waived_by,
            "waived_at": w.waived_at,
            "recorded_by_key": w.recorded_by_key,
            "model_version": d.model_version,
        }
        for w in store.waivers_of(session, d.id)
    ]
    outcome = store.outcome_of(session, entry_id)
    record = {
        **to_out(store.as_record(d), replayed=False).model_dump(),
        "contributions": d.contributions,
        "entry": d.entry,
    }
    effective = waivers[-1]["action"] if waivers else d.action
    return DecisionRecord.model_validate(
        {
            **record,
            "earlier": earlier,
            "waivers": waivers,
            "effective_action": effective,
            "outcome": _outcome_out(outcome) if outcome else None,
        }
    )


@router.post(
    "/decisions/{entry_id:path}/waivers",
    response_model=WaiverOut,
    status_code=201,
    responses={404: {"model": ErrorBody}, **AUTH_ERRORS, **BODY_ERRORS},
)
def waive_decision(
    entry_id: str, body: WaiverIn, session: SessionDep, caller: ReviewerKey, model_version: int | None = None
) -> WaiverOut:
    """Override the action of the latest decision on an entry (or of `model_version`'s) with a reason.

    The decision stays as it was decided; the waiver is recorded beside it with who and when."""
    waiver, decision = review.waive(session, entry_id, body, caller.name, model_version)
    session.commit()
    return WaiverOut(
        action=body.action,
        reason=waiver.reason,
        waived_by=waiver.waived_by,
        waived_at=waiver.waived_at,
        recorded_by_key=caller.name,
        model_version=decision.model_version,
    )


@router.post(
    "/outcomes",
    response_model=OutcomeOut,
    status_code=201,
    responses={
        200: {"model": OutcomeOut, "description": "Recorded before (an identical repeat)."},
        404: {"model": ErrorBody},
        409: {"model": ErrorBody},
        **AUTH_ERRORS,
        **BODY_ERRORS,
    },
)
def record_outcome(
    body: OutcomeIn, session: SessionDep, scorer: ScorerDep, caller: ReviewerKey, response: Response
) -> OutcomeOut:
    """Record what the inspection of a scored entry found; the entry's importer, manufacturer, shipper
    and seller profiles count it at once, so their next entries are scored with it."""
    outcome, replayed = outcomes.record(session, scorer, body, caller.name)
    session.commit()
    if replayed:
        response.status_code = 200
    return _outcome_out(outcome, replayed)
