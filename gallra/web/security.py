"""Who is logged in, CSRF checks and the headers every answer carries.

A session is an HttpOnly, SameSite=Strict cookie whose hash is in the index.
Every form carries the session's CSRF token; the login form, before any
session exists, carries a double-submit token from its own cookie.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from gallra.wiring import App
from storage.webauth import find_session

__all__ = [
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "Forbidden",
    "LoginRequired",
    "Viewer",
    "check_csrf",
    "new_login_token",
    "security_headers",
    "set_cookie",
    "viewer_of",
]

SESSION_COOKIE = "gallra_session"
LOGIN_CSRF_COOKIE = "gallra_login_csrf"

# Mail HTML is sanitised, and this policy is the second wall: no script but
# ours (there is none), no remote images, fonts, frames or form targets.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class LoginRequired(Exception):
    """No valid session cookie."""


class Forbidden(Exception):
    """A form without the right CSRF token."""


@dataclass(frozen=True)
class Viewer:
    """The logged-in user of a request."""

    username: str
    csrf_token: str
    session_token: str
    user_id: int = 0
    language: str | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names them."""
        return f"web:{self.username}"


def viewer_of(request: Request, gallra: App) -> Viewer:
    """The logged-in user, or LoginRequired."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired
    with gallra.session() as session:
        found = find_session(session, token=token, now=gallra.clock.now())
        if found is None:
            raise LoginRequired
        web_session, user = found
        return Viewer(user.username, web_session.csrf_token, token, user.id or 0, user.language)


def check_csrf(form: FormData, expected: str) -> None:
    """Forbidden unless the form's csrf field equals `expected`."""
    given = form.get("csrf")
    if not isinstance(given, str) or not expected:
        raise Forbidden
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden


def new_login_token() -> str:
    """A fresh double-submit token for the login form."""
    return secrets.token_urlsafe(24)


def security_headers(response: Response) -> None:
    """Headers on every answer: no caching of private pages, no framing, no sniffing."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"


def set_cookie(
    response: Response, name: str, value: str, gallra: App, *, max_age: int | None = None
) -> None:
    """An HttpOnly, SameSite=Strict cookie (Secure behind HTTPS)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=gallra.settings.web.secure_cookies,
    )
