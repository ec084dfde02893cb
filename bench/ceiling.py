"""The HTTP ceiling bench/http_load.py measures scoring against: the service itself, with one more route that
does the scoring route's key check and body read and then answers `size` bytes made once; nothing parsed, scored
or recorded. Served by the benchmark only (`uvicorn --factory ceiling:app_from_env`, bench/ on the path): the
production app has no such route."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response

from service.app import app_from_env as service_from_env
from service.deps import ScorerKey

CEILING_MAX_BYTES = 8 * 2**20


@lru_cache(maxsize=8)
def _padded(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    return b'{"pad":"' + b"x" * (size - 10) + b'"}'


async def ceiling(
    request: Request, caller: ScorerKey, size: Annotated[int, Query(ge=10, le=CEILING_MAX_BYTES)]
) -> Response:
    """POST /v1/_ceiling: the key check and the body read of /v1/score, then `size` bytes."""
    await request.body()
    return Response(_padded(size), media_type="application/json")


def with_ceiling(app: FastAPI) -> FastAPI:
    """The service with the ceiling route, out of its schema."""
    app.add_api_route("/v1/_ceiling", ceiling, methods=["POST"], include_in_schema=False)
    return app


def app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory ceiling:app_from_env`, settings from the environment as the service's."""
    return with_ceiling(service_from_env())
