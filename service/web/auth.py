"""Signing in to the desk with an API key: a signed session cookie, and a CSRF token for every form.

The cookie holds the key's hash (never the key), its name and the session's CSRF token, signed with
`session_secret` and dated: it expires after `session_hours`, and a revoked key ends every session made with
it within `key_cache_seconds`. Cookies are HttpOnly, SameSite=Strict and (by default) Secure; every form
carries the token, and a POST whose Origin names another site is refused as well."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Form, Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from service import keys
from service.deps import SessionDep, caller_of_hash
from service.keys import Role
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


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.session_secret, salt="desk-session")


def _cookie(response: Response, settings: Settings, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=DESK, secure=settings.cookie_secure, httponly=True,
                        samesite="strict")  # fmt: skip


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
    """Check a key and, if it may use the desk, set the session cookie; else the reason it may not."""
    caller = keys.identify(session, key.strip())
    if caller is None:
        return "unknown or revoked API key"
    if not caller.may(ALLOWED):
        return f"a {caller.role.value} key cannot sign in to the desk: it needs a reviewer or admin key"
    settings: Settings = request.app.state.settings
    user = DeskUser(caller.name, caller.role, new_token())
    value = _serializer(settings).dumps({"h": keys.hash_key(key.strip()), "c": user.csrf})
    _cookie(response, settings, SESSION_COOKIE, value, int(settings.session_hours * 3600))
    response.delete_cookie(SIGN_IN_COOKIE, path=DESK)
    return user


def end_session(response: Response) -> None:
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
    """The signed-in reviewer; SignInRequired without a valid, unexpired session of a live key."""
    settings: Settings = request.app.state.settings
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        raise SignInRequired(here(request))
    try:
        data: dict[str, Any] = _serializer(settings).loads(raw, max_age=int(settings.session_hours * 3600))
    except BadSignature:  # forged, damaged or expired
        raise SignInRequired(here(request)) from None
    caller = caller_of_hash(request, session, str(data.get("h", "")))
    if caller is None or not caller.may(ALLOWED):
        raise SignInRequired(here(request))
    request.state.caller = caller.name
    return DeskUser(caller.name, caller.role, str(data.get("c", "")))


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")  # browsers send it with every POST; a script without it needs the token
    return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")


def form_user(request: Request, user: Annotated[DeskUser, Depends(desk_user)],
              csrf: Annotated[str, Form(max_length=128)] = "") -> DeskUser:  # fmt: skip
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
