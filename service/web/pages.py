"""The reviewers' desk: server-rendered pages over the same store, keys and code paths as the API."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from features.pipeline import HISTORY_FEATURES
from features.schema import Entry, Violation
from service import outcomes, review, store
from service.deps import ScorerDep, SessionDep
from service.explain import ENTITY_LABELS, feature_label, label
from service.monitoring import DriftMonitor
from service.policy import BANDS, Action
from service.registry_view import NotInRegistry, RegistryView
from service.schemas import OutcomeIn, SelectedBy, WaiverIn
from service.store import desk
from service.web import auth
from service.web.auth import DESK, FormUserDep, UserDep
from service.web.charts import waterfall
from training.registry import PROMOTION_METRIC

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
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
HISTORY_ENTITIES = ("importer_id", "manufacturer_id", "shipper_id", "seller_id", "hts_heading+country_of_origin")


# pages load nothing but their own stylesheet and script; none may be framed, cached or leak its address
HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A page from its template, with the desk's security headers."""
    page = {"actions": list(Action), "bands": BANDS, "violations": list(Violation), "nav": None, **context}
    return templates.TemplateResponse(request, name, page, status, headers=HEADERS)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, 303)


# ---- signing in and out ------------------------------------------------------------------------------------


@router.get("")
def home() -> RedirectResponse:
    return _see_other(f"{DESK}/queue")


@router.get("/sign-in")
def sign_in_form(request: Request, next: str = DESK) -> HTMLResponse:
    token = auth.sign_in_token(request)
    response = render(request, "sign_in.html", {"next": auth.safe_next(next), "error": None, "csrf": token})
    auth.keep_sign_in_token(request, response, token)
    return response


@router.post("/sign-in")
def sign_in(request: Request, session: SessionDep, key: Annotated[str, Form(max_length=256)] = "",
            csrf: Annotated[str, Form(max_length=128)] = "", next: Annotated[str, Form(max_length=2000)] = DESK,
            ) -> Response:  # fmt: skip
    auth.check_sign_in_token(request, csrf)
    response = _see_other(auth.safe_next(next))
    user = auth.start_session(request, response, session, key)
    if isinstance(user, str):
        log.info("desk sign-in refused: %s", user)
        return render(request, "sign_in.html", {"next": auth.safe_next(next), "error": user, "csrf": csrf}, 401)
    log.info("desk sign-in", extra={"caller": user.name})
    return response


@router.post("/sign-out")
def sign_out(user: FormUserDep) -> RedirectResponse:
    response = _see_other(f"{DESK}/sign-in")
    auth.end_session(response)
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
    if violation and violation not in {v.value for v in Violation}:
        errors["violation"] = "not a violation type"
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
        risk_band=band or None, since=since, until=until + timedelta(days=1) if until else None,
        port_of_entry=port or None, importer_id=importer or None, likely_violation=violation or None,
    )  # fmt: skip
    return where, errors


@router.get("/queue")
def queue_page(request: Request, session: SessionDep, user: UserDep) -> HTMLResponse:
    params = dict(request.query_params)
    where, errors = queue_filter(params)
    after, before = _cursor(params.get("after", ""), "after", errors), _cursor(params.get("before", ""), "before",
                                                                                errors)  # fmt: skip
    if errors:
        context = {"user": user, "nav": "queue", "params": params, "errors": errors, "page": None}
        return render(request, "queue.html", context, 422)
    page = desk.queue(session, where, request.app.state.settings.queue_page_size, after, before)
    kept = {k: v for k, v in params.items() if k not in ("after", "before") and v}

    def link(**cursor: str) -> str:
        return str(request.url.replace_query_params(**kept, **cursor))

    pages = {"newer": link(before=f"{page.newer[0]!r}:{page.newer[1]}") if page.newer else None,
             "older": link(after=f"{page.older[0]!r}:{page.older[1]}") if page.older else None,
             "first": link() if page.newer else None}  # fmt: skip
    return render(request, "queue.html", {"user": user, "nav": "queue", "params": params, "errors": {}, "page": page,
                                           "pages": pages})  # fmt: skip


# ---- an entry -------------------------------------------------------------------------------------------------


def account_history(contributions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each account's history as the model saw it when deciding: its history features' values."""
    by_name = {c["feature"]: c for c in contributions}
    rows = []
    for entity in HISTORY_ENTITIES:
        stats = {h: by_name.get(f"{entity}_{h}") for h in HISTORY_FEATURES}
        if any(s is not None for s in stats.values()):
            rows.append({"entity": ENTITY_LABELS.get(entity, label(entity)),
                         **{h: (s["input"] if s is not None else None) for h, s in stats.items()}})  # fmt: skip
    return rows


def _entry_context(request: Request, session: SessionDep, entry_id: str, version: int | None) -> dict[str, Any]:
    decision, others = review.decision_of(session, entry_id, version)
    contributions = decision.contributions
    chart = waterfall(contributions, decision.base_value, {c["feature"]: feature_label(c["feature"])
                                                           for c in contributions})  # fmt: skip
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
        "d": decision, "others": others, "chart": chart, "run_url": run_url, "waivers": waivers,
        "effective": waivers[-1].action if waivers else decision.action,
        "outcome": store.outcome_of(session, entry_id), "history": account_history(contributions),
        "fields": [(label(f), decision.entry.get(f)) for f in Entry.model_fields],
        "rules": [r for r in decision.reasons if r.get("effect") == "rule"],
        "reasons": [r for r in decision.reasons if r.get("effect") != "rule"],
        "selected_by": list(SelectedBy), "now": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M"),
        "saved": request.query_params.get("saved"), "errors": {}, "form": {}, "which_form": None,
    }  # fmt: skip


def _entry_url(entry_id: str, version: int | None, saved: str | None = None) -> str:
    query = "&".join(q for q in (f"version={version}" if version is not None else "",
                                 f"saved={saved}" if saved else "") if q)  # fmt: skip
    return f"{DESK}/entries/{entry_id}" + (f"?{query}" if query else "")


@router.get("/entries/{entry_id}")
def entry_page(request: Request, session: SessionDep, user: UserDep, entry_id: str,
               version: int | None = None) -> HTMLResponse:  # fmt: skip
    try:
        context = _entry_context(request, session, entry_id, version)
    except review.NoSuchDecision as exc:
        return render(request, "missing.html", {"user": user, "message": str(exc)}, 404)
    return render(request, "entry.html", {"user": user, **context})


def _errors_of(exc: ValidationError) -> dict[str, str]:
    return {str(e["loc"][0]) if e["loc"] else "form": e["msg"].removeprefix("Value error, ") for e in exc.errors()}


def _refuse(request: Request, session: SessionDep, user: UserDep, entry_id: str, version: int | None,
            which: str, errors: dict[str, str], form: dict[str, Any], status: int) -> HTMLResponse:  # fmt: skip
    context = _entry_context(request, session, entry_id, version)
    context |= {"errors": errors, "form": form, "which_form": which, "saved": None}
    return render(request, "entry.html", {"user": user, **context}, status)


@router.post("/entries/{entry_id}/outcome")
async def record_outcome(request: Request, session: SessionDep, scorer: ScorerDep, user: FormUserDep,
                         entry_id: str, version: int | None = None) -> Response:  # fmt: skip
    """The outcome form: recorded by `outcomes.record`, exactly as POST /v1/outcomes records it."""
    form = await request.form()
    given = {"inspected_at": str(form.get("inspected_at", "")), "violation_types": form.getlist("violation_types"),
             "revenue_recovered": str(form.get("revenue_recovered", "") or "0"),
             "selected_by": str(form.get("selected_by", "")), "note": str(form.get("note", ""))}  # fmt: skip

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
        return _see_other(_entry_url(entry_id, version, "outcome"))

    return await run_in_threadpool(record)


@router.post("/entries/{entry_id}/waiver")
def waive(request: Request, session: SessionDep, user: FormUserDep, entry_id: str,
          action: Annotated[str, Form(max_length=64)] = "", reason: Annotated[str, Form(max_length=4000)] = "",
          by: Annotated[str, Form(max_length=256)] = "", version: int | None = None) -> Response:  # fmt: skip
    """The waiver form: recorded by `review.waive`, exactly as POST /v1/decisions/{id}/waivers records it."""
    given = {"action": action, "reason": reason, "by": by}
    try:
        body = WaiverIn.model_validate(given)
    except ValidationError as exc:
        return _refuse(request, session, user, entry_id, version, "waiver", _errors_of(exc), given, 422)
    review.waive(session, entry_id, body, user.name, version)
    session.commit()
    return _see_other(_entry_url(entry_id, version, "waiver"))


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
    history = {alias: store.alias_history(session, view.name, alias) for alias in ("champion", "challenger")}
    return render(request, "model.html", {
        "user": user, "nav": "model", "cards": [(c, view.run_url(c.run_id, c.experiment_id)) for c in cards],
        "registry_error": registry_error, "history": history, "key_metrics": KEY_METRICS,
        "promotion_metric": PROMOTION_METRIC, "serving": scorer.ref, "drift": monitor.latest(scorer),
    })  # fmt: skip


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
