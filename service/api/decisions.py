from __future__ import annotations

from fastapi import APIRouter, HTTPException

from service import store
from service.api.score import model_ref, to_out
from service.deps import SessionDep
from service.schemas import DecisionRecord, ErrorBody

router = APIRouter(prefix="/v1", tags=["decisions"])


@router.get("/decisions/{entry_id}", response_model=DecisionRecord, responses={404: {"model": ErrorBody}})
def read_decision(entry_id: str, session: SessionDep, model_version: int | None = None) -> DecisionRecord:
    """The latest decision on an entry (or the one by `model_version`), with every feature's contribution."""
    found = store.decisions_of_entry(session, entry_id)
    chosen = [d for d in found if model_version is None or d.model_version == model_version]
    if not chosen:
        which = f" by model version {model_version}" if model_version is not None else ""
        raise HTTPException(404, f"no decision on entry {entry_id}{which}")
    d = chosen[0]
    earlier = [
        {"model": model_ref(o), "decided_at": o.decided_at, "score": o.score, "action": o.action}
        for o in found
        if o is not d
    ]
    record = {**to_out(d, replayed=False).model_dump(), "entry": d.entry, "contributions": d.contributions}
    return DecisionRecord.model_validate({**record, "earlier": earlier})
