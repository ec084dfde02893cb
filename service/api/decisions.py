from __future__ import annotations

from fastapi import APIRouter, HTTPException

from service import store
from service.api.score import model_ref, to_out
from service.deps import SessionDep
from service.schemas import DecisionRecord, ErrorBody, WaiverIn, WaiverOut

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
    waivers = [
        {"action": w.action, "reason": w.reason, "waived_by": w.waived_by, "waived_at": w.waived_at,
         "model_version": d.model_version}
        for w in store.waivers_of(session, d.id)
    ]  # fmt: skip
    record = {**to_out(d, replayed=False).model_dump(), "entry": d.entry, "contributions": d.contributions}
    effective = waivers[-1]["action"] if waivers else d.action
    return DecisionRecord.model_validate(
        {**record, "earlier": earlier, "waivers": waivers, "effective_action": effective}
    )


@router.post(
    "/decisions/{entry_id}/waivers", response_model=WaiverOut, status_code=201,
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)  # fmt: skip
def waive(entry_id: str, body: WaiverIn, session: SessionDep, model_version: int | None = None) -> WaiverOut:
    """Override the action of the latest decision on an entry (or of `model_version`'s) with a reason.

    The decision stays as it was decided; the waiver is recorded beside it with who and when."""
    found = [d for d in store.decisions_of_entry(session, entry_id)
             if model_version is None or d.model_version == model_version]  # fmt: skip
    if not found:
        raise HTTPException(404, f"no decision on entry {entry_id} to waive")
    waiver = store.add_waiver(session, found[0], body.action.value, body.reason, body.by)
    session.commit()
    return WaiverOut(action=body.action, reason=waiver.reason, waived_by=waiver.waived_by, waived_at=waiver.waived_at,
                     model_version=found[0].model_version)  # fmt: skip
