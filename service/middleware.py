"""The service's ASGI middleware, outermost first: each request's id, log line and metrics; admission (a bound on
requests in flight, and whether the client is still there); the body size limit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from functools import lru_cache

from fastapi import HTTPException
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observe import Metrics, request_id_var

log = logging.getLogger(__name__)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
CONVERTER = re.compile(r":\w+}")
CLIENT_GONE = "targeting.client_gone"  # scope key: set once the client has closed its connection
SCORED = ("entries", "model_version")  # what a scoring request adds to its log line
CLIENT_CLOSED = 499  # the status logged for a request whose client left before its answer (nginx's convention)


@lru_cache(maxsize=256)
def _template(path: str) -> str:
    """A route's path as metrics and logs name it: `/v1/decisions/{entry_id:path}` is `/v1/decisions/{entry_id}`."""
    return CONVERTER.sub("}", path)


def _route(scope: Scope, root: str) -> str:
    """The route a request matched, as a template; under a mount (static files) the mount's path and `{path}`."""
    route = scope.get("route")
    if route is not None:
        return _template(route.path)
    mounted = scope.get("root_path", "")
    return f"{mounted.removeprefix(root)}/{{path}}" if mounted != root else "unmatched"


class RequestContext:
    """Give each request an id (the caller's X-Request-ID if well formed), answer it in X-Request-ID, and count,
    time and log the request by its route template (no ids in labels or logs)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        root = scope.get("root_path", "")
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        rid = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        request_id_var.set(rid)
        status = 500  # unless an answer starts: an exception that escapes every handler

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, answer)
        except ClientDisconnect:  # the client left while its body was being read: nobody to answer
            status = CLIENT_CLOSED
        finally:
            route = _route(scope, root)
            elapsed = time.perf_counter() - began
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route).observe(elapsed)
            log.info(
                "%s %s %s",
                scope["method"],
                route,
                status,
                extra={
                    "route": route,
                    "method": scope["method"],
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                    "caller": state.get("caller"),
                    **{k: state[k] for k in SCORED if k in state},
                },
            )


class Admission:
    """At most `limit` requests in flight in this worker: one more is answered 503 with Retry-After at once,
    instead of waiting for a thread or a database connection that the requests already in flight hold.

    The worker's thread and connection pools are sized from the same limit (service/app.py), so an admitted
    request never waits on a pool held by others. Paths in `exempt` (liveness, metrics) always pass. Once a
    request's body has been read, a listener notes when its client goes away (`check_client`), so that the work
    of a request nobody waits for is skipped."""

    def __init__(self, app: ASGIApp, limit: int, metrics: Metrics, exempt: tuple[str, ...]) -> None:
        self.app = app
        self.limit = limit
        self.metrics = metrics
        self.exempt = frozenset(exempt)
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.metrics.shed.inc()
            await self._busy(scope)(scope, receive, send)
            return
        self.in_flight += 1
        self.metrics.in_flight.set(self.in_flight)
        listener: asyncio.Task[None] | None = None
        counted = True

        def done() -> None:
            nonlocal counted
            if counted:
                counted = False
                self.in_flight -= 1
                self.metrics.in_flight.set(self.in_flight)

        async def answer(message: Message) -> None:
            # the request stops counting as its last bytes leave, not after: its client may send the next one
            # as soon as it has them, and must find the place free
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                done()
            await send(message)

        async def watched() -> Message:
            nonlocal listener
            message = await receive()
            if message["type"] == "http.disconnect":
                scope[CLIENT_GONE] = True
            elif not message.get("more_body", False) and listener is None:
                listener = asyncio.get_running_loop().create_task(self._listen(scope, receive))
            return message

        try:
            await self.app(scope, watched, answer)
        finally:
            done()
            if listener is not None:
                listener.cancel()

    @staticmethod
    async def _listen(scope: Scope, receive: Receive) -> None:
        """After the body, the server's next message is a disconnect: the client left, or the answer was sent."""
        with contextlib.suppress(asyncio.CancelledError):
            if (await receive())["type"] == "http.disconnect":
                scope[CLIENT_GONE] = True

    def _busy(self, scope: Scope) -> JSONResponse | HTMLResponse:
        headers = {"Retry-After": "1"}
        if scope["path"].startswith("/desk"):
            return HTMLResponse(
                "<!doctype html><title>Busy</title><p>The service is busy: try again in a moment.", 503, headers
            )
        detail = f"the service is at its limit of {self.limit} requests in flight; nothing was done: retry shortly"
        return JSONResponse({"detail": detail}, 503, headers)


class ClientGone(Exception):
    """The client closed its connection before its request was decided: nothing is done for it."""


def check_client(scope: Scope) -> None:
    """Raise ClientGone once the client of this request has closed its connection (see Admission)."""
    if scope.get(CLIENT_GONE):
        raise ClientGone()


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes")


class BodyLimit:
    """Refuse a body over `limit` bytes: at once by its Content-Length, else (chunked) as it arrives."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await JSONResponse({"detail": f"request body over {self.limit} bytes"}, 413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:  # FastAPI passes an HTTPException raised while reading the body through
                raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)
