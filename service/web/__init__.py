"""The reviewers' desk, served by the service itself under /desk: pages, their local assets, and the answers
to a missing sign-in or a refused form."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from service.web import accounts, auth, entry, pages
from service.web.render import render

STATIC = Path(__file__).parent / "static"


def _sign_in(request: Request, exc: Exception) -> RedirectResponse:
    assert isinstance(exc, auth.SignInRequired)
    # a form posted after the session ended: back to the page it was on (its action's parent), to fill in again
    back = exc.next_path if request.method == "GET" else auth.sent_path(request).rsplit("/", 1)[0]
    return RedirectResponse(auth.sign_in_url(back), 303)


def _refused(request: Request, exc: Exception) -> HTMLResponse:
    return render(request, "forbidden.html", {"user": None, "message": str(exc)}, 403)


def unavailable_page(request: Request, message: str) -> HTMLResponse:
    """The page a reviewer sees when the service cannot answer (the database is down or every connection busy)."""
    retry = auth.here(request) if request.method == "GET" else f"{auth.DESK}/queue"
    response = render(request, "unavailable.html", {"user": None, "message": message, "retry": retry}, 503)
    response.headers["retry-after"] = "5"
    return response


def install(app: FastAPI) -> None:
    app.include_router(pages.router)
    app.include_router(entry.router)
    app.include_router(accounts.router)
    app.mount(f"{auth.DESK}/static", StaticFiles(directory=STATIC), name="desk-static")
    app.add_exception_handler(auth.SignInRequired, _sign_in)
    app.add_exception_handler(auth.Forbidden, _refused)
