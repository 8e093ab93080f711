"""Logging in and out: one scrypt per try (in a worker thread), throttled per client.

A try from a client that must wait is answered at once, without a password
check: failures slow down only that client address for that account (see
storage.webauth), and the coach's own browser is never kept out. A hash made
with weaker parameters is upgraded at the next successful login.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gallra.web import pages
from gallra.web.passwords import dummy_hash, hash_password, needs_rehash, verify_password
from gallra.web.rendering import render_page
from gallra.web.second_factor import check_second_factor
from gallra.web.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    new_login_token,
    set_cookie,
)
from gallra.wiring import App
from models.tables import WebUser
from models.types import utcnow
from storage.audit import record
from storage.webauth import end_session, failed_try, find_user, login, may_try_at

__all__ = ["add_login"]


def _throttle_key(gallra: App, request: Request, username: str) -> str:
    """A keyed hash of the client's address and the account (no address is stored)."""
    address = request.client.host if request.client else "?"
    message = f"{address}\0{username.casefold()}".encode()
    return hmac.new(gallra.hash_key, message, hashlib.sha256).hexdigest()


def add_login(app: FastAPI, gallra: App) -> None:
    """The login page, the login itself, logout."""

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, failed: int = 0) -> Response:
        token = new_login_token()
        response = render_page(request, "login.html", who=None, csrf=token, failed=failed)
        set_cookie(response, LOGIN_CSRF_COOKIE, token, gallra, max_age=3600)
        return response

    @app.post("/login")
    async def login_submit(request: Request) -> Response:
        form = await request.form()
        check_csrf(form, request.cookies.get(LOGIN_CSRF_COOKIE, ""))
        username = str(form.get("username") or "").strip()[:200]
        password = str(form.get("password") or "")[:1000]
        key = _throttle_key(gallra, request, username)
        with gallra.session() as session:  # the wall clock: --now must not lift a wait
            if may_try_at(session, key=key, now=utcnow()) is not None:
                record(session, actor="web:?", action="login-throttled", at=gallra.clock.now())
                return RedirectResponse("/login?failed=2", status_code=303)
            user = find_user(session, username=username)
            user_id, stored = (user.id, user.password_hash) if user else (None, dummy_hash())
        ok = await run_in_threadpool(verify_password, password, stored)
        upgraded = (
            await run_in_threadpool(hash_password, password)
            if ok and needs_rehash(stored)
            else None
        )
        with gallra.session() as session:
            user = session.get(WebUser, user_id) if user_id is not None else None
            if user is None or not ok:
                failed_try(session, key=key, now=utcnow())
                record(session, actor="web:?", action="login-failed", at=gallra.clock.now())
                return RedirectResponse("/login?failed=1", status_code=303)
            code = str(form.get("code") or "")[:40]
            if not check_second_factor(user, gallra.hash_key, code, utcnow()):
                failed_try(session, key=key, now=utcnow())
                session.add(user)
                record(
                    session, actor=f"web:{user.username}", action="login-code-failed",
                    at=gallra.clock.now(),
                )  # fmt: skip
                return RedirectResponse("/login?failed=3", status_code=303)
            session.add(user)
            if upgraded:
                user.password_hash = upgraded
            outcome = login(session, password_ok=True, user=user, now=gallra.clock.now(), key=key)
            record(session, actor=f"web:{user.username}", action="login", at=gallra.clock.now())
        assert outcome.token is not None
        response = RedirectResponse("/", status_code=303)
        set_cookie(response, SESSION_COOKIE, outcome.token, gallra)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE, "")
        viewer = pages.viewer(request)
        check_csrf(await request.form(), viewer.csrf_token)
        with gallra.session() as session:
            end_session(session, token=token)
            record(session, actor=viewer.actor, action="logout", at=gallra.clock.now())
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
