"""create_app(settings): the FastAPI application; the only place that maps errors to HTTP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from decisions import accounts, keys, migrate, outcomes, review, store
from decisions.decide import DuplicateEntry, EntryConflict
from model.scoring import Scorer, resolve
from service.api import accounts as accounts_api
from service.api import decisions, health, monitoring, policy, score
from service.api import keys as keys_api
from service.api import performance as performance_api
from service.batcher import Batcher
from service.deps import KeyBook, Policies
from service.middleware import CLIENT_CLOSED, Admission, BodyLimit, ClientGone, RequestContext
from service.monitoring import DriftMonitor, PerformanceMonitor
from service.observe import Metrics, configure_logging
from service.registry_view import RegistryView
from service.serving import ModelSlot, settle_heap
from service.settings import Settings
from service.web import install as install_desk
from service.web import performance as performance_page
from service.web import unavailable_page
from service.web.auth import DESK

log = logging.getLogger(__name__)
METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
# never shed: liveness, and the scrape that shows the overload (it looks its key up only when the key book has
# no fresh answer, on one of the pool's spare connections)
UNBOUNDED = ("/healthz", "/metrics")
DOCS_STATIC = "/docs-static"


def _field(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e["type"] == "json_invalid" for e in errors):
        return JSONResponse({"detail": "request body is not valid JSON"}, 400)
    if any(e["type"] == "too_long" and tuple(e["loc"]) == ("body", "entries") for e in errors):
        limit = request.app.state.settings.max_batch
        return JSONResponse({"detail": f"a batch holds at most {limit} entries"}, 413)
    items = [{"field": _field(tuple(e["loc"])), "reason": e["msg"]} for e in errors]
    return JSONResponse({"detail": items}, 422)


def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, 409)


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own answer, except that a 405 names every method the path takes in Allow: the route that
    matched first names only its own (GET /v1/policy answered a DELETE with `Allow: GET`, leaving out PUT)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        routes = request.app.router.routes
        allowed = [
            m for m in METHODS if any(r.matches({**request.scope, "method": m})[0] is Match.FULL for r in routes)
        ]
        exc = StarletteHTTPException(405, exc.detail, {"Allow": ", ".join(allowed)})
    return await http_exception_handler(request, exc)


def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, 404)


def _unprocessable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, 422)


def _duplicate(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": [{"field": "entries", "reason": str(exc)}]}, 422)


def _unstorable(request: Request, exc: Exception) -> JSONResponse:
    # a value the database refuses (out of range, bad encoding): the request's fault, not an outage
    return JSONResponse({"detail": "a value in the request cannot be stored; nothing was recorded"}, 422)


def _unavailable(request: Request, detail: str) -> Response:
    """A 503: JSON for the API, a page for the desk's reviewers."""
    if request.url.path.startswith(DESK):
        return unavailable_page(request, detail)
    return JSONResponse({"detail": detail}, 503)


def _overloaded(request: Request, exc: Exception) -> Response:
    log.error("no database connection free within the pool timeout")
    return _unavailable(request, "the service is overloaded (no database connection free); nothing was decided")


def _client_gone(request: Request, exc: Exception) -> Response:
    log.info("the client left before its request was decided: nothing was recorded")
    return Response(status_code=CLIENT_CLOSED)


def _database_down(request: Request, exc: Exception) -> Response:
    log.error("database error: %s", type(exc).__name__)
    return _unavailable(request, "the decisions database is unavailable; nothing was decided")


def _slot(settings: Settings, scorer: Scorer | None, metrics: Metrics) -> ModelSlot:
    if scorer is not None:
        return ModelSlot(scorer, None, None, metrics)
    uri = _tracking_uri(settings)
    name, alias, cache = settings.model_name, settings.model_alias, settings.model_cache

    def load() -> Scorer:
        return Scorer.load(uri, name, alias, cache)

    return ModelSlot(load(), lambda: resolve(uri, name, alias), load, metrics)


def _tracking_uri(settings: Settings) -> str:
    from model.registry import tracking_uri

    return settings.mlflow_tracking_uri or tracking_uri()


async def _watch_drift(app: FastAPI, every: float) -> None:
    """Recompute drift in the background, so that pages and scrapes read a fresh report without waiting."""
    while True:
        try:
            await run_in_threadpool(app.state.drift.refresh, app.state.slot.scorer)
        except Exception:  # a database outage must not end the watch; the next round tries again
            log.exception("drift computation failed")
        await asyncio.sleep(every)


async def _poll(app: FastAPI, every: float) -> None:
    """Follow the alias: a moved champion is served within `every` seconds."""
    while True:
        await asyncio.sleep(every)
        await run_in_threadpool(app.state.slot.reload)


def _map_errors(app: FastAPI) -> None:
    """Every domain error to its HTTP answer: the one place that does it."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(EntryConflict, _conflict)
    app.add_exception_handler(outcomes.OutcomeConflict, _conflict)
    app.add_exception_handler(keys.KeyExists, _conflict)
    app.add_exception_handler(keys.LastAdmin, _conflict)
    app.add_exception_handler(keys.KeyRefused, _unprocessable)  # any other refusal: the name given
    app.add_exception_handler(outcomes.NoDecision, _not_found)
    app.add_exception_handler(review.NoSuchDecision, _not_found)
    app.add_exception_handler(keys.NoSuchKey, _not_found)
    app.add_exception_handler(accounts.UnknownAccount, _not_found)
    app.add_exception_handler(outcomes.OutcomeInvalid, _unprocessable)
    app.add_exception_handler(DuplicateEntry, _duplicate)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(DBAPIError, _database_down)
    app.add_exception_handler(PoolTimeout, _overloaded)
    app.add_exception_handler(ClientGone, _client_gone)


def operation_id(route: APIRoute) -> str:
    """A route's OpenAPI operation id: its function's name (`score_entries`), stable for generated clients."""
    return route.name


def create_app(settings: Settings, scorer: Scorer | None = None) -> FastAPI:
    """The service; `scorer` may be given (tests), otherwise `name@alias` is loaded from MLflow at start."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = store.make_engine(
            settings.database_url, settings.sqlite_synchronous, settings.pool_size, settings.pool_timeout_seconds
        )
        # a thread for every admitted request and for the background work, so that none waits for one holding
        # a database connection (the stall an outside attack found: more requests than threads + connections)
        threads = anyio.to_thread.current_default_thread_limiter()
        threads.total_tokens = max(threads.total_tokens, settings.pool_size)
        try:
            migrate.check(engine)
        except migrate.SchemaOutdated as exc:
            log.critical("refusing to start: %s", exc)
            engine.dispose()
            raise
        app.state.sessions = sessionmaker(engine, expire_on_commit=False)
        app.state.policies = Policies(settings.sample_secret.encode())
        app.state.batcher = Batcher(
            app.state.sessions, app.state.policies.in_force, settings.top_reasons, app.state.metrics
        )
        app.state.key_book = KeyBook(settings.key_cache_seconds)
        with app.state.sessions() as session:  # the settings' policy is version 1 of a new database
            store.ensure_policy(session, settings.policy.model_dump(mode="json"))
            session.commit()
        app.state.slot = await run_in_threadpool(_slot, settings, scorer, app.state.metrics)
        ref = app.state.slot.scorer.ref
        app.state.metrics.model.labels(ref.name, ref.alias).set(ref.version)
        app.state.registry_view = RegistryView(_tracking_uri(settings), settings.model_name, settings.mlflow_ui_url)
        app.state.drift = DriftMonitor(
            app.state.sessions,
            app.state.metrics,
            settings.drift_days,
            settings.drift_max_decisions,
            settings.drift_refresh_seconds,
        )
        settle_heap()
        tasks = []
        if scorer is None and settings.model_poll_seconds > 0:
            tasks.append(asyncio.create_task(_poll(app, settings.model_poll_seconds)))
        if settings.drift_refresh_seconds > 0:
            tasks.append(asyncio.create_task(_watch_drift(app, settings.drift_refresh_seconds)))
        yield
        for task in tasks:
            task.cancel()
        engine.dispose()

    # /docs loads Swagger UI from the service, never from a CDN; no ReDoc: its page fetches its logo from the web
    app = FastAPIOffline(
        static_url=DOCS_STATIC,
        redoc_url=None,
        title="shipment-targeting",
        version="1",
        summary="Risk scores, interventions and reasons for import entries.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.performance = PerformanceMonitor(lambda: getattr(app.state, "sessions", None), app.state.metrics)
    app.include_router(score.router)
    app.include_router(decisions.router)
    app.include_router(accounts_api.router)
    app.include_router(health.router)
    app.include_router(policy.router)
    app.include_router(keys_api.router)
    app.include_router(monitoring.router)
    app.include_router(performance_api.router)
    app.include_router(performance_page.router)
    install_desk(app)
    _map_errors(app)

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(Admission, limit=settings.max_in_flight, metrics=app.state.metrics, exempt=UNBOUNDED)
    app.add_middleware(RequestContext, metrics=app.state.metrics)
    return app


def app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory service.app:app_from_env`."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)
