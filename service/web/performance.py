"""The desk's measured-success page: GET /v1/performance's figures for a window, as a reviewer reads them."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import TypeAdapter, ValidationError

from decisions.store import performance as measured
from service.api.performance import DEFAULT_DAYS, WindowInvalid, window
from service.deps import PolicyDep, SessionDep
from service.web.auth import DESK, UserDep
from service.web.render import render

router = APIRouter(prefix=DESK, include_in_schema=False)
WHEN = TypeAdapter(datetime)


def _bound(text: str, field: str, errors: dict[str, str]) -> datetime | None:
    if not text.strip():
        return None
    try:
        return WHEN.validate_python(text.strip())
    except ValidationError:
        errors[field] = "a date as YYYY-MM-DD (or a time, YYYY-MM-DDTHH:MM)"
        return None


@router.get("/performance")
def performance_page(request: Request, session: SessionDep, rules: PolicyDep, user: UserDep) -> HTMLResponse:
    params = {k: request.query_params.get(k, "") for k in ("from", "to")}
    errors: dict[str, str] = {}
    start, end = _bound(params["from"], "from", errors), _bound(params["to"], "to", errors)
    context = {"user": user, "nav": "performance", "params": params, "errors": errors, "days": DEFAULT_DAYS}
    if not errors:
        try:
            first, last = window(start, end)
        except WindowInvalid as exc:
            errors[exc.field] = exc.reason
    if errors:
        return render(request, "performance.html", context | {"p": None}, 422)
    by = rules.policy.exploration.by
    return render(request, "performance.html", context | {"p": measured.performance(session, first, last, by)})
