"""create_app(settings): the FastAPI application; the only place that maps errors to HTTP."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker

from service import store
from service.api import decisions, health, policy, score
from service.decide import DuplicateEntry, EntryConflict
from service.scoring import Scorer
from service.settings import Settings

log = logging.getLogger(__name__)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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


def _duplicate(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": [{"field": "entries", "reason": str(exc)}]}, 422)


def _database_down(request: Request, exc: Exception) -> JSONResponse:
    log.error("database error: %s", type(exc).__name__)
    return JSONResponse({"detail": "the decisions database is unavailable; nothing was decided"}, 503)


def create_app(settings: Settings, scorer: Scorer | None = None) -> FastAPI:
    """The service; `scorer` may be given (tests), otherwise `name@alias` is loaded from MLflow at start."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = store.make_engine(settings.database_url)
        store.create_schema(engine)
        app.state.sessions = sessionmaker(engine, expire_on_commit=False)
        app.state.policies = {}
        with app.state.sessions() as session:  # the settings' policy is version 1 of a new database
            if store.active_policy(session) is None:
                store.add_policy(session, settings.policy.model_dump(mode="json"), "service start", "from settings")
                session.commit()
        if scorer is None:
            from training.registry import tracking_uri

            uri = settings.mlflow_tracking_uri or tracking_uri()
            app.state.scorer = Scorer.load(uri, settings.model_name, settings.model_alias)
        else:
            app.state.scorer = scorer
        yield
        engine.dispose()

    app = FastAPI(
        title="shipment-targeting",
        version="1",
        summary="Risk scores, interventions and reasons for import entries.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(score.router)
    app.include_router(decisions.router)
    app.include_router(health.router)
    app.include_router(policy.router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(EntryConflict, _conflict)
    app.add_exception_handler(DuplicateEntry, _duplicate)
    app.add_exception_handler(DBAPIError, _database_down)

    @app.middleware("http")
    async def request_context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        given = request.headers.get("x-request-id", "")
        request.state.request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_body_bytes:
            response: Response = JSONResponse({"detail": f"request body over {settings.max_body_bytes} bytes"}, 413)
        else:
            response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    return app


def app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory service.app:app_from_env`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app(Settings())
