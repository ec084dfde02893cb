"""The desk's account pages: one account's risk profile, and accounts listed by risk for audit selection."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from decisions import accounts, store
from decisions.accounts import EXPOSURE_DAYS
from service.deps import PolicyDep, SessionDep
from service.web.auth import DESK, UserDep
from service.web.charts import trend
from service.web.render import render

router = APIRouter(prefix=f"{DESK}/accounts", include_in_schema=False)
KINDS = store.accounts.KINDS
PAGE = 25


def _missing(request: Request, user: UserDep, message: str) -> HTMLResponse:
    return render(request, "missing.html", {"user": user, "message": message}, 404)


@router.get("")
def accounts_page(request: Request, session: SessionDep, policy: PolicyDep, user: UserDep) -> HTMLResponse:
    params = request.query_params
    kind, after, over_bond = params.get("kind", "importer"), params.get("after") or None, params.get("over_bond") == "1"
    errors = {}
    if kind not in KINDS:
        errors["kind"] = f"{kind!r} is not a kind of account: {', '.join(KINDS)}"
    try:
        cursor = accounts.parse_cursor(after) if after else None
    except ValueError as exc:
        errors["after"] = str(exc)
    context = {"user": user, "nav": "accounts", "kinds": KINDS, "kind": kind, "over_bond": over_bond, "errors": errors}
    if errors:
        return render(request, "accounts.html", context | {"listed": [], "next": None}, 422)
    listed, more = accounts.riskiest(
        session, kind, policy.policy.probability, datetime.now(UTC), PAGE, cursor, over_bond
    )
    kept = {"kind": kind} | ({"over_bond": "1"} if over_bond else {})
    next_page = str(request.url.replace_query_params(**kept, after=accounts.cursor_text(more))) if more else None
    first = str(request.url.replace_query_params(**kept)) if after else None
    return render(request, "accounts.html", context | {"listed": listed, "next": next_page, "first": first})


@router.get("/{kind}/{key:path}")
def account_page(
    request: Request, kind: str, key: str, session: SessionDep, policy: PolicyDep, user: UserDep
) -> HTMLResponse:
    if kind not in KINDS:
        return _missing(request, user, f"{kind!r} is not a kind of account: {', '.join(KINDS)}")
    before_text = request.query_params.get("before", "")
    before = int(before_text) if before_text.isdigit() else None
    try:
        found = accounts.account(session, kind, key, policy.policy.probability, datetime.now(UTC))
    except accounts.UnknownAccount as exc:
        return _missing(request, user, str(exc))
    rows = store.accounts.account_decisions(session, kind, key, PAGE + 1, before)
    older = str(request.url.replace_query_params(before=rows[PAGE - 1].id)) if len(rows) > PAGE else None
    return render(
        request,
        "account.html",
        {
            "user": user,
            "nav": "accounts",
            "a": found,
            "facts": found.facts,
            "rows": rows[:PAGE],
            "older": older,
            "newest": str(request.url.remove_query_params("before")) if before else None,
            "chart": trend([s for _, s in found.facts.scores]),
            "days": EXPOSURE_DAYS,
            "prior_strength": accounts.PRIOR_STRENGTH,
        },
    )
