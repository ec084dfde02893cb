"""The bare app bench/http_load.py measures the service against: a plain FastAPI app in its own process, outside
the service's stack (no middleware, database, logging or metrics), doing only what any scoring endpoint must.

`POST /v1/score?size=N`: the same bearer-key check as the service (the key's SHA-256 looked up in memory), the
body parsed into a pydantic model of the entries (the service's own entry schema), and an answer of N bytes made
once. `GET /readyz` answers at once. Served by the benchmark only:

    BARE_KEY_SHA256=<hex> uvicorn --factory bare:app --app-dir bench
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from features.schema import Entry

MAX_BYTES = 8 * 2**20


class Entries(BaseModel):
    entries: list[Entry] = Field(min_length=1, max_length=1000)


@lru_cache(maxsize=8)
def padded(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    return b'{"pad":"' + b"x" * (size - 10) + b'"}'


KNOWN: set[str] = set()
bearer = HTTPBearer(auto_error=False)


async def caller(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    if credentials is None or hashlib.sha256(credentials.credentials.encode()).hexdigest() not in KNOWN:
        raise HTTPException(401, "unknown or revoked API key")
    return "scorer"


async def score(
    body: Entries, who: Annotated[str, Depends(caller)], size: Annotated[int, Query(ge=10, le=MAX_BYTES)]
) -> Response:
    return Response(padded(size), media_type="application/json")


async def ready() -> dict[str, str]:
    return {"status": "ok"}


def app() -> FastAPI:
    """The bare app; the scorer key's SHA-256 from BARE_KEY_SHA256."""
    KNOWN.add(os.environ["BARE_KEY_SHA256"])
    bare = FastAPI(openapi_url=None)
    bare.add_api_route("/v1/score", score, methods=["POST"])
    bare.add_api_route("/readyz", ready, methods=["GET"])
    return bare
