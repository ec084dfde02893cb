"""Rendering the desk's pages: one template folder, and the desk's security headers on every page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from decisions.actions import BANDS, Action
from features.codes import Violation
from features.definitions import feature_label


def entry_path(entry_id: str, version: int | None = None, saved: str | None = None) -> str:
    """An entry's page. The id is one path segment whatever it holds: "/" is encoded, so that an id such as
    `P1/../Q1` cannot be read by a browser as dot segments and resolved to another entry's page."""
    query = "&".join(
        q for q in (f"version={version}" if version is not None else "", f"saved={saved}" if saved else "") if q
    )
    return f"/desk/entries/{quote(entry_id, safe='')}" + (f"?{query}" if query else "")


def account_path(kind: str, key: str) -> str:
    """An account's page; its id is one path segment, as an entry's is."""
    return f"/desk/accounts/{kind}/{quote(key, safe='')}"


STAMPED = re.compile(r"^(?P<name>.+)-(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})T\d{6,12}$")


def key_label(name: str) -> str:
    """A key's name as a reviewer reads it: `local-admin-20261205T135107867849` is "local-admin (key of
    2026-12-05)"; a name someone chose is shown as it is."""
    stamped = STAMPED.match(name)
    return f"{stamped['name']} (key of {stamped['y']}-{stamped['m']}-{stamped['d']})" if stamped else name


templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["feature_label"] = feature_label
templates.env.filters["key_label"] = key_label
templates.env.globals["entry_path"] = entry_path
templates.env.globals["account_path"] = account_path

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


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, 303)
