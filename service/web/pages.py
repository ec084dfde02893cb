"""The desk's sign-in, queue and model pages (an entry's page is in entry.py)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from decisions import store
from decisions.actions import BANDS, Action
from decisions.patterns import NAMEABLE
from decisions.store import desk
from model.registry import CHALLENGER, CHAMPION, PROMOTION_METRIC
from service.deps import ScorerDep, SessionDep
from service.monitoring import DriftMonitor
from service.registry_view import NotInRegistry, RegistryView
from service.web import auth
from service.web.auth import DESK, FormUserDep, UserDep
from service.web.render import render, see_other

log = logging.getLogger(__name__)
router = APIRouter(prefix=DESK, include_in_schema=False)
KEY_METRICS = (
    ("precision_at_1pct", "violations among the 1 % inspected"),
    ("precision_at_5pct", "violations among the 5 % inspected"),
    ("recall_at_5pct", "share of violations caught at 5 %"),
    ("revenue_recall_at_5pct", "share of revenue at stake caught at 5 %"),
    ("roc_auc", "ranking quality (ROC AUC)"),
    ("pr_auc", "precision-recall AUC"),
    ("brier", "Brier score (lower is better)"),
    ("all_calibration_error", "calibration error over every entry"),
    ("cost_treeshap_us", "explanation cost per entry (µs)"),
)


# ---- signing in and out ------------------------------------------------------------------------------------


@router.get("")
def home() -> RedirectResponse:
    return see_other(f"{DESK}/queue")


@router.get("/sign-in")
def sign_in_form(request: Request, next: str = DESK) -> HTMLResponse:
    token = auth.sign_in_token(request)
    response = render(request, "sign_in.html", {"next": auth.safe_next(next), "error": None, "csrf": token})
    auth.keep_sign_in_token(request, response, token)
    return response


@router.post("/sign-in")
def sign_in(
    request: Request,
    session: SessionDep,
    key: Annotated[str, Form(max_length=256)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = DESK,
) -> Response:
    auth.check_sign_in_token(request, csrf)
    response = see_other(auth.safe_next(next))
    user = auth.start_session(request, response, session, key)
    if isinstance(user, str):
        log.info("desk sign-in refused: %s", user)
        return render(request, "sign_in.html", {"next": auth.safe_next(next), "error": user, "csrf": csrf}, 401)
    session.commit()
    log.info("desk sign-in", extra={"caller": user.name})
    return response


@router.post("/sign-out")
def sign_out(request: Request, session: SessionDep, user: FormUserDep) -> RedirectResponse:
    response = see_other(f"{DESK}/sign-in")
    auth.end_session(request, response, session)
    session.commit()
    return response


# ---- the queue ------------------------------------------------------------------------------------------------


def _day(text: str, field: str, errors: dict[str, str]) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time(), UTC)
    except ValueError:
        errors[field] = "a date as YYYY-MM-DD"
        return None


def _cursor(text: str, field: str, errors: dict[str, str]) -> tuple[float, int] | None:
    if not text:
        return None
    score, _, id_ = text.partition(":")
    try:
        return float(score), int(id_)
    except ValueError:
        errors[field] = "not a page of this queue: start again from the first page"
        return None


def queue_filter(params: dict[str, str]) -> tuple[desk.QueueFilter, dict[str, str]]:
    """The queue's filter from the page's query, and a message per field that could not be read."""
    errors: dict[str, str] = {}
    action = params.get("action", "")
    if action and action not in {a.value for a in Action}:
        errors["action"] = "not an action"
    band = params.get("band", "")
    if band and band not in BANDS.values():
        errors["band"] = "not a risk band"
    violation = params.get("violation", "")
    if violation and violation not in NAMEABLE:
        errors["violation"] = "not a pattern the desk names"
    port = params.get("port", "").strip()
    if port and not (len(port) == 4 and port.isdigit()):
        errors["port"] = "a port code is 4 digits"
    importer = params.get("importer", "").strip()
    if len(importer) > 64:
        errors["importer"] = "at most 64 characters"
    since, until = _day(params.get("since", ""), "since", errors), _day(params.get("until", ""), "until", errors)
    if since and until and until < since:
        errors["until"] = "before the start date"
    where = desk.QueueFilter(
        actions=(action,) if action and "action" not in errors else (),
        risk_band=band or None,
        since=since,
        until=until + timedelta(days=1) if until else None,
        port_of_entry=port or None,
        importer_id=importer or None,
        likely_violation=violation or None,
    )
    return where, errors


@router.get("/queue")
def queue_page(request: Request, session: SessionDep, user: UserDep) -> HTMLResponse:
    params = dict(request.query_params)
    where, errors = queue_filter(params)
    nav = "audits" if where.actions == (Action.POST_RELEASE_AUDIT.value,) else "queue"  # the audit queue's link
    after, before = (
        _cursor(params.get("after", ""), "after", errors),
        _cursor(params.get("before", ""), "before", errors),
    )
    if errors:
        context = {"user": user, "nav": nav, "params": params, "errors": errors, "page": None, "patterns": NAMEABLE}
        return render(request, "queue.html", context, 422)
    page = desk.queue(session, where, request.app.state.settings.queue_page_size, after, before)
    kept = {k: v for k, v in params.items() if k not in ("after", "before") and v}

    def link(**cursor: str) -> str:
        return str(request.url.replace_query_params(**kept, **cursor))

    pages = {
        "newer": link(before=f"{page.newer[0]!r}:{page.newer[1]}") if page.newer else None,
        "older": link(after=f"{page.older[0]!r}:{page.older[1]}") if page.older else None,
        "first": link() if page.newer else None,
    }
    return render(
        request,
        "queue.html",
        {
            "user": user,
            "nav": nav,
            "params": params,
            "errors": {},
            "page": page,
            "pages": pages,
            "patterns": NAMEABLE,
        },
    )


# ---- the model ------------------------------------------------------------------------------------------------


@router.get("/model")
def model_page(request: Request, session: SessionDep, scorer: ScorerDep, user: UserDep) -> HTMLResponse:
    view: RegistryView = request.app.state.registry_view
    monitor: DriftMonitor = request.app.state.drift
    cards, registry_error = [], None
    try:
        cards = view.cards()
    except Exception as exc:  # the rest of the page stands while the registry is unreachable
        registry_error = f"the model registry is unreachable ({type(exc).__name__})"
    history = {alias: store.alias_history(session, view.name, alias) for alias in (CHAMPION, CHALLENGER)}
    return render(
        request,
        "model.html",
        {
            "user": user,
            "nav": "model",
            "cards": [(c, view.run_url(c.run_id, c.experiment_id)) for c in cards],
            "registry_error": registry_error,
            "history": history,
            "key_metrics": KEY_METRICS,
            "promotion_metric": PROMOTION_METRIC,
            "serving": scorer.ref,
            "drift": monitor.latest(scorer),
            "next_round": monitor.next_round(),
        },
    )


@router.get("/models/{version}/report")
def model_report(request: Request, user: UserDep, version: int) -> Response:
    view: RegistryView = request.app.state.registry_view
    try:
        body = view.report(version)
    except NotInRegistry as exc:
        return render(request, "missing.html", {"user": user, "message": str(exc)}, 404)
    # the report is the training run's own self-contained HTML: inline styles and images, nothing else
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"
    return HTMLResponse(body, headers={"content-security-policy": csp})
