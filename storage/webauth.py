"""Web logins in the index: users, lockout after failures, sessions kept as hashes.

Only a SHA-256 of a session token is stored, so a copy of the index cannot
be used to ride a live session; the token itself lives in the browser's
HttpOnly cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from models.tables import WebSession, WebUser

__all__ = [
    "LOCK_AFTER",
    "LOCK_FOR",
    "LoginOutcome",
    "end_session",
    "find_session",
    "find_user",
    "login",
    "set_password",
]

LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
SESSION_FOR = timedelta(hours=12)


@dataclass(frozen=True)
class LoginOutcome:
    """A session token on success; otherwise why not (never which of user or password)."""

    token: str | None = None
    csrf_token: str | None = None
    locked_until: datetime | None = None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def set_password(session: Session, *, username: str, password_hash: str) -> WebUser:
    """Create the user or replace their password; unlocks and ends their sessions."""
    user = session.exec(select(WebUser).where(WebUser.username == username)).first()
    if user is None:
        user = WebUser(username=username, password_hash=password_hash)
    else:
        user.password_hash = password_hash
        user.failed_logins = 0
        user.locked_until = None
        session.execute(delete(WebSession).where(col(WebSession.user_id) == user.id))
    session.add(user)
    session.flush()
    return user


def login(
    session: Session,
    *,
    password_ok: bool,
    user: WebUser | None,
    now: datetime,
) -> LoginOutcome:
    """Record an attempt whose password was checked by the caller; open a session on success."""
    if user is None:
        return LoginOutcome()
    if user.locked_until is not None and user.locked_until > now:
        return LoginOutcome(locked_until=user.locked_until)
    if not password_ok:
        user.failed_logins += 1
        if user.failed_logins >= LOCK_AFTER:
            user.locked_until = now + LOCK_FOR
            user.failed_logins = 0
        session.add(user)
        session.flush()
        return LoginOutcome(locked_until=user.locked_until if user.locked_until else None)
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    assert user.id is not None
    session.execute(delete(WebSession).where(col(WebSession.expires_at) < now))
    session.add(
        WebSession(
            token_hash=_digest(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + SESSION_FOR,
        )
    )
    session.flush()
    return LoginOutcome(token=token, csrf_token=csrf)


def find_user(session: Session, *, username: str) -> WebUser | None:
    """The user of that name, if any."""
    return session.exec(select(WebUser).where(WebUser.username == username)).first()


def find_session(
    session: Session, *, token: str, now: datetime
) -> tuple[WebSession, WebUser] | None:
    """The live session of a cookie token and its user, or None."""
    row = session.get(WebSession, _digest(token))
    if row is None or row.expires_at <= now:
        return None
    user = session.get(WebUser, row.user_id)
    return None if user is None else (row, user)


def end_session(session: Session, *, token: str) -> None:
    """Log out: the token stops working at once."""
    session.execute(delete(WebSession).where(col(WebSession.token_hash) == _digest(token)))
