"""The reviewers' desk, served by the service itself under /desk: pages, their local assets, and the answers
to a missing sign-in or a refused form."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from service.web import auth, pages

STATIC = Path(__file__).parent / "static"


def _sign_in(request: Request, exc: Exception) -> RedirectResponse:
    assert isinstance(exc, auth.SignInRequired)
    # after a form POST, come back to the page the form was on rather than to its action
    back = exc.next_path if request.method == "GET" else request.headers.get("referer", auth.DESK)
    return RedirectResponse(auth.sign_in_url(back if back.startswith("/") else auth.DESK), 303)


def _refused(request: Request, exc: Exception) -> HTMLResponse:
    return pages.render(request, "forbidden.html", {"user": None, "message": str(exc)}, 403)


def install(app: FastAPI) -> None:
    app.include_router(pages.router)
    app.mount(f"{auth.DESK}/static", StaticFiles(directory=STATIC), name="desk-static")
    app.add_exception_handler(auth.SignInRequired, _sign_in)
    app.add_exception_handler(auth.Forbidden, _refused)
