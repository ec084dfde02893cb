"""An entry's page: the decision and why, the account history the model saw, and the outcome and waiver forms,
recorded through the same code as the API's."""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from decisions import outcomes, patterns, review, store
from features.definitions import HISTORY_FEATURES, account_label, feature_label
from service.deps import ScorerDep, SessionDep
from service.registry_view import NotInRegistry, RegistryView
from service.schemas import OutcomeIn, SelectedBy, WaiverIn
from service.web.auth import DESK, FormUserDep, UserDep
from service.web.charts import waterfall
from service.web.filed import filed_fields
from service.web.render import entry_path, render, see_other

log = logging.getLogger(__name__)
router = APIRouter(prefix=DESK, include_in_schema=False)
HISTORY_ENTITIES = ("importer_id", "manufacturer_id", "shipper_id", "seller_id", "hts_heading+country_of_origin")


def account_history(contributions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each account's history as the model saw it when deciding: its history features' values."""
    by_name = {c["feature"]: c for c in contributions}
    rows = []
    for entity in HISTORY_ENTITIES:
        stats = {h: by_name.get(f"{entity}_{h}") for h in HISTORY_FEATURES}
        if any(s is not None for s in stats.values()):
            rows.append(
                {
                    "entity": account_label(entity),
                    **{h: (s["input"] if s is not None else None) for h, s in stats.items()},
                }
            )
    return rows


def _odds(margin: float) -> str:
    """Log-odds as odds a reader knows: "1 to 15.6" against, "2.3 to 1" for."""
    odds = math.exp(margin)
    return f"{odds:.3g} to 1" if odds >= 1 else f"1 to {1 / odds:.3g}"


def _entry_context(request: Request, session: SessionDep, entry_id: str, version: int | None) -> dict[str, Any]:
    decision, others = review.decision_of(session, entry_id, version)
    contributions = decision.contributions
    chart = waterfall(
        contributions, decision.base_value, {c["feature"]: feature_label(c["feature"]) for c in contributions}
    )
    view: RegistryView = request.app.state.registry_view
    run_url = None
    try:
        run_url = view.run_url(*view.run_of(decision.model_version))
    except NotInRegistry:
        pass
    except Exception as exc:  # the page stands without the link while the registry is unreachable
        log.warning("no run link for version %s: %s", decision.model_version, type(exc).__name__)
    waivers = store.waivers_of(session, decision.id)
    return {
        "d": decision,
        "others": others,
        "chart": chart,
        "run_url": run_url,
        "waivers": waivers,
        "effective": waivers[-1].action if waivers else decision.action,
        "outcome": store.outcome_of(session, entry_id),
        "history": account_history(contributions),
        # what the signals point to, however weakly: shown on request where no pattern was named
        "signal": None if decision.likely_violation else patterns.strongest(contributions, minimum=0.0),
        "min_evidence": patterns.MIN_EVIDENCE,
        "raw_probability": 1 / (1 + math.exp(-decision.raw_score)),
        "odds": _odds(decision.raw_score),
        "fields": filed_fields(decision.entry),
        "sent": json.dumps(decision.entry, indent=1, ensure_ascii=False),
        "rules": [r for r in decision.reasons if r.get("effect") == "rule"],
        "reasons": [r for r in decision.reasons if r.get("effect") != "rule"],
        "selected_by": list(SelectedBy),
        "now": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M"),
        "saved": request.query_params.get("saved"),
        "errors": {},
        "form": {},
        "which_form": None,
    }


def _missing(request: Request, user: UserDep, exc: Exception) -> HTMLResponse:
    return render(request, "missing.html", {"user": user, "message": str(exc)}, 404)


# entry ids may hold "/" (features/schema.py PartyId), hence the path converters
@router.get("/entries/{entry_id:path}")
def entry_page(
    request: Request, session: SessionDep, user: UserDep, entry_id: str, version: int | None = None
) -> HTMLResponse:
    try:
        context = _entry_context(request, session, entry_id, version)
    except review.NoSuchDecision as exc:
        return _missing(request, user, exc)
    return render(request, "entry.html", {"user": user, **context})


def _errors_of(exc: ValidationError) -> dict[str, str]:
    return {str(e["loc"][0]) if e["loc"] else "form": e["msg"].removeprefix("Value error, ") for e in exc.errors()}


def _refuse(
    request: Request,
    session: SessionDep,
    user: UserDep,
    entry_id: str,
    version: int | None,
    which: str,
    errors: dict[str, str],
    form: dict[str, Any],
    status: int,
) -> HTMLResponse:
    context = _entry_context(request, session, entry_id, version)
    context |= {"errors": errors, "form": form, "which_form": which, "saved": None}
    return render(request, "entry.html", {"user": user, **context}, status)


@router.post("/entries/{entry_id:path}/outcome")
async def record_outcome(
    request: Request,
    session: SessionDep,
    scorer: ScorerDep,
    user: FormUserDep,
    entry_id: str,
    version: int | None = None,
) -> Response:
    """The outcome form: recorded by `outcomes.record`, exactly as POST /v1/outcomes records it."""
    form = await request.form()
    given = {
        "inspected_at": str(form.get("inspected_at", "")),
        "violation_types": form.getlist("violation_types"),
        "revenue_recovered": str(form.get("revenue_recovered", "") or "0"),
        "selected_by": str(form.get("selected_by", "")),
        "note": str(form.get("note", "")),
    }

    def record() -> Response:
        try:
            body = OutcomeIn.model_validate({"entry_id": entry_id, **given})
        except ValidationError as exc:
            return _refuse(request, session, user, entry_id, version, "outcome", _errors_of(exc), given, 422)
        try:
            outcomes.record(session, scorer, body, user.name)
        except (outcomes.OutcomeConflict, outcomes.OutcomeInvalid, outcomes.NoDecision) as exc:
            status = 409 if isinstance(exc, outcomes.OutcomeConflict) else 422
            session.rollback()
            return _refuse(request, session, user, entry_id, version, "outcome", {"form": str(exc)}, given, status)
        session.commit()
        return see_other(entry_path(entry_id, version, "outcome"))

    try:
        return await run_in_threadpool(record)
    except review.NoSuchDecision as exc:  # a form for an entry never decided: the page says so
        return _missing(request, user, exc)


@router.post("/entries/{entry_id:path}/waiver")
def waive(
    request: Request,
    session: SessionDep,
    user: FormUserDep,
    entry_id: str,
    action: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=4000)] = "",
    by: Annotated[str, Form(max_length=256)] = "",
    version: int | None = None,
) -> Response:
    """The waiver form: recorded by `review.waive`, exactly as POST /v1/decisions/{id}/waivers records it."""
    given = {"action": action, "reason": reason, "by": by}
    try:
        try:
            body = WaiverIn.model_validate(given)
        except ValidationError as exc:
            return _refuse(request, session, user, entry_id, version, "waiver", _errors_of(exc), given, 422)
        review.waive(session, entry_id, body, user.name, version)
    except review.NoSuchDecision as exc:  # a form for an entry never decided: the page says so
        return _missing(request, user, exc)
    session.commit()
    return see_other(entry_path(entry_id, version, "waiver"))
