from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import IntegrityError

from decisions.store import DecisionRecord
from model.scoring import Scorer
from service.batcher import Batcher
from service.deps import ScorerKey
from service.middleware import check_client
from service.observe import Metrics
from service.schemas import AUTH_ERRORS, DecisionOut, ErrorBody, ScoreRequest, ScoreResponse

router = APIRouter(prefix="/v1", tags=["scoring"])
FIRST = "$response.body#/decisions/0/entry_id"
# what a client does next with a decision, for readers of the document and for stateful testing
LINKS = {
    "ReadDecision": {
        "operationId": "read_decision",
        "parameters": {"entry_id": FIRST},
        "description": "The record of the first decision.",
    },
    "WaiveDecision": {
        "operationId": "waive_decision",
        "parameters": {"entry_id": FIRST},
        "description": "Override the first decision's action.",
    },
    "RecordOutcome": {
        "operationId": "record_outcome",
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
async def score_entries(request: Request, body: ScoreRequest, caller: ScorerKey) -> Response:
    """Score one to 1,000 entries. Each decision is recorded before the answer is sent; an entry
    already decided by this model version is answered from its record (`replayed`). A request whose client has
    gone by the time it is decided, or before it is committed, is not recorded."""
    state, rid = request.app.state, request.state.request_id
    scorer: Scorer = state.slot.scorer  # the request keeps the model it started with, even if a reload swaps it
    batcher: Batcher = state.batcher
    for attempt in (1, 2):
        check_client(request.scope)
        try:  # decided and committed with the other requests waiting (service/batcher.py), before the answer
            decided = await batcher.decide(scorer, body.entries, rid, request.scope)
            break
        except IntegrityError:  # another worker recorded the same entry first: answer from its record
            if attempt == 2:
                raise
    metrics: Metrics = state.metrics
    for d in decided.new:
        metrics.scores.observe(d.score)
        metrics.decisions.labels(d.action).inc()
    # for the request's one log line (service/middleware.py), which is written after the answer
    request.state.entries, request.state.model_version = len(decided.decisions), scorer.ref.version
    replayed = decided.replayed
    answer = ScoreResponse(request_id=rid, decisions=[to_out(d, d.entry_id in replayed) for d in decided.decisions])
    # serialised here, once: FastAPI would validate the model again against `response_model` before writing it
    return Response(answer.model_dump_json(), media_type="application/json")
