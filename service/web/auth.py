"""Signing in to the desk with an API key: a session kept in the store, and a CSRF token for every form.

The cookie holds only a random token; the store keeps its hash, the key it was made with, the session's CSRF
token and when it expires (`session_hours`). Signing out, expiry and revoking the key end the session at once,
every copy of the cookie included. Cookies are HttpOnly, SameSite=Strict and (by default) Secure; every form
carries the token, and a POST whose Origin names another site is refused as well."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Form, Request
from fastapi.responses import Response

from decisions import keys, store
from decisions.keys import Role
from decisions.store import sessions
from service.deps import SessionDep
from service.settings import Settings

SESSION_COOKIE = "desk_session"
SIGN_IN_COOKIE = "desk_sign_in"  # the sign-in form's CSRF token, before there is a session
DESK = "/desk"
ALLOWED = (Role.REVIEWER,)  # and admin, which may do everything


class SignInRequired(Exception):
    """No valid desk session: the page answers with a redirect to the sign-in form."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in first")
        self.next_path = next_path


class Forbidden(Exception):
    """A form without a valid CSRF token, or from another site."""


@dataclass(frozen=True)
class DeskUser:
    name: str
    role: Role
    csrf: str


def _cookie(response: Response, settings: Settings, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=DESK, secure=settings.cookie_secure, httponly=True, samesite="strict"
    )


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a desk page of this site, never another host."""
    if not path or (not path.startswith(DESK + "/") and path != DESK) or urlsplit(path).netloc or "\\" in path:
        return DESK
    return path


def new_token() -> str:
    return secrets.token_urlsafe(32)


def sign_in_token(request: Request) -> str:
    """The sign-in form's CSRF token: the browser's, if it has one, else a new one (double submit)."""
    return request.cookies.get(SIGN_IN_COOKIE) or new_token()


def keep_sign_in_token(request: Request, response: Response, token: str) -> None:
    _cookie(response, request.app.state.settings, SIGN_IN_COOKIE, token, 3600)


def check_sign_in_token(request: Request, given: str) -> None:
    kept = request.cookies.get(SIGN_IN_COOKIE, "")
    if not kept or not hmac.compare_digest(kept, given):
        raise Forbidden("the sign-in form has expired or was not sent by this site: load it again")


def start_session(request: Request, response: Response, session: SessionDep, key: str) -> DeskUser | str:
    """Check a key and, if it may use the desk, start a session and set its cookie; else the reason it may not.
    The caller commits."""
    row = store.api_key_by_hash(session, keys.hash_key(key.strip())) if key.strip().startswith(keys.PREFIX) else None
    if row is None:
        return "unknown or revoked API key"
    caller = keys.Caller(row.name, Role(row.role))
    if not caller.may(ALLOWED):
        return f"a {caller.role.value} key cannot sign in to the desk: it needs a reviewer or admin key"
    settings: Settings = request.app.state.settings
    token, started = sessions.start(session, row, timedelta(hours=settings.session_hours))
    _cookie(response, settings, SESSION_COOKIE, token, int(settings.session_hours * 3600))
    response.delete_cookie(SIGN_IN_COOKIE, path=DESK)
    return DeskUser(caller.name, caller.role, started.csrf)


def end_session(request: Request, response: Response, session: SessionDep) -> None:
    """Sign out: the session ends in the store, whatever copies of its cookie exist. The caller commits."""
    sessions.end(session, request.cookies.get(SESSION_COOKIE, ""))
    response.delete_cookie(SESSION_COOKIE, path=DESK)


def sent_path(request: Request) -> str:
    """The request's path as the browser sent it, still encoded: an entry id's "/" stays "%2F", so that a link
    back to it opens the same entry (request.url.path is decoded)."""
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if raw else quote(request.url.path)


def here(request: Request) -> str:
    """The page requested, to come back to: its path as sent and its query."""
    return sent_path(request) + (f"?{request.url.query}" if request.url.query else "")


def desk_user(request: Request, session: SessionDep) -> DeskUser:
    """The signed-in reviewer; SignInRequired without a live session (not signed out, not expired, its key not
    revoked), read from the store on every request."""
    token = request.cookies.get(SESSION_COOKIE)
    found = sessions.live(session, token) if token else None
    if found is None:
        raise SignInRequired(here(request))
    started, key = found
    caller = keys.Caller(key.name, Role(key.role))
    if not caller.may(ALLOWED):
        raise SignInRequired(here(request))
    request.state.caller = caller.name
    return DeskUser(caller.name, caller.role, started.csrf)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")  # browsers send it with every POST; a script without it needs the token
    return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")


def form_user(
    request: Request, user: Annotated[DeskUser, Depends(desk_user)], csrf: Annotated[str, Form(max_length=128)] = ""
) -> DeskUser:
    """The signed-in reviewer of a form POST whose CSRF token matches the session's."""
    if not _same_origin(request):
        raise Forbidden("this form was sent from another site")
    if not user.csrf or not hmac.compare_digest(user.csrf, csrf):
        raise Forbidden("the form's security token does not match your session: reload the page and try again")
    return user


def sign_in_url(next_path: str) -> str:
    return f"{DESK}/sign-in?next={quote(safe_next(next_path), safe='/')}"


UserDep = Annotated[DeskUser, Depends(desk_user)]
FormUserDep = Annotated[DeskUser, Depends(form_user)]
