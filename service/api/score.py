from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from sqlalchemy.exc import IntegrityError

from decisions.decide import decide
from decisions.store import DecisionRecord
from service.deps import MetricsDep, PolicyDep, RequestIdDep, ScorerDep, ScorerKey, SessionDep, SettingsDep
from service.middleware import check_client
from service.schemas import AUTH_ERRORS, DecisionOut, ErrorBody, ScoreRequest, ScoreResponse

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["scoring"])
FIRST = "$response.body#/decisions/0/entry_id"
# what a client does next with a decision, for readers of the document and for stateful testing
LINKS = {
    "ReadDecision": {
        "operationId": "read_decision_v1_decisions__entry_id__get",
        "parameters": {"entry_id": FIRST},
        "description": "The record of the first decision.",
    },
    "WaiveDecision": {
        "operationId": "waive_v1_decisions__entry_id__waivers_post",
        "parameters": {"entry_id": FIRST},
        "description": "Override the first decision's action.",
    },
    "RecordOutcome": {
        "operationId": "record_outcome_v1_outcomes_post",
        "requestBody": {"entry_id": FIRST},
        "description": "Record what the inspection of the first entry found.",
    },
}


def to_out(d: DecisionRecord, replayed: bool) -> DecisionOut:
    """The response body of a decision."""
    fields = (
        "entry_id",
        "score",
        "risk_band",
        "action",
        "raw_score",
        "base_value",
        "expected_revenue",
        "ranking",
        "policy_version",
        "selection",
        "selection_probability",
        "likely_violation",
        "reasons",
        "decided_at",
        "request_id",
    )
    return DecisionOut.model_validate(
        {
            **{f: getattr(d, f) for f in fields},
            "replayed": replayed,
            "model": {"name": d.model_name, "version": d.model_version, "alias": d.model_alias},
        }
    )


@router.post(
    "/score",
    response_model=ScoreResponse,
    responses={
        200: {"links": LINKS},
        400: {"model": ErrorBody},
        409: {"model": ErrorBody},
        413: {"model": ErrorBody},
        422: {"model": ErrorBody},
        503: {"model": ErrorBody},
        **AUTH_ERRORS,
    },
)
def score(
    request: Request,
    body: ScoreRequest,
    session: SessionDep,
    scorer: ScorerDep,
    settings: SettingsDep,
    policy: PolicyDep,
    rid: RequestIdDep,
    caller: ScorerKey,
    metrics: MetricsDep,
) -> ScoreResponse:
    """Score one to 1,000 entries. Each decision is recorded before the answer is sent; an entry
    already decided by this model version is answered from its record (`replayed`). A request whose client has
    gone by the time it is decided, or before it is committed, is not recorded."""
    for attempt in (1, 2):
        try:
            check_client(request.scope)
            decisions, replayed = decide(session, scorer, policy, body.entries, rid, settings.top_reasons)
            check_client(request.scope)  # the session dependency rolls back what decide added
            session.commit()  # the record exists before the response does
            break
        except IntegrityError:  # a concurrent request recorded the same entry first: answer from its record
            session.rollback()
            if attempt == 2:
                raise
    for d in decisions:
        if d.entry_id not in replayed:
            metrics.scores.observe(d.score)
            metrics.decisions.labels(d.action).inc()
    log.info("scored", extra={"entries": len(decisions), "model_version": scorer.ref.version})
    return ScoreResponse(request_id=rid, decisions=[to_out(d, d.entry_id in replayed) for d in decisions])
