"""Web logins in the index: users, throttled failures, sessions kept as hashes.

Failures are counted per client address and account (a keyed hash of both):
after FREE_TRIES, that pair waits 1 s, 2 s, 4 s... up to 15 minutes before its
next try is even checked. No one else waits, so a guesser slows only themselves.

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

from models.tables import LoginThrottle, WebSession, WebUser

__all__ = [
    "FREE_TRIES",
    "LoginOutcome",
    "end_session",
    "failed_try",
    "find_session",
    "find_user",
    "login",
    "may_try_at",
    "set_password",
]

FREE_TRIES = 3
LONGEST_WAIT = timedelta(minutes=15)
FORGET_AFTER = timedelta(days=1)
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


def may_try_at(session: Session, *, key: str, now: datetime) -> datetime | None:
    """When this client may try this account again, if it must wait (None: now)."""
    row = session.get(LoginThrottle, key)
    return row.next_try_at if row is not None and row.next_try_at > now else None


def failed_try(session: Session, *, key: str, now: datetime) -> datetime | None:
    """Count a failure for this client and account; until when it must wait, if it must."""
    session.execute(delete(LoginThrottle).where(col(LoginThrottle.updated_at) < now - FORGET_AFTER))
    row = session.get(LoginThrottle, key) or LoginThrottle(key=key, next_try_at=now, updated_at=now)
    row.failures += 1
    over = row.failures - FREE_TRIES
    wait = timedelta(0) if over < 0 else min(timedelta(seconds=2 ** min(over, 20)), LONGEST_WAIT)
    row.next_try_at, row.updated_at = now + wait, now
    session.add(row)
    session.flush()
    return row.next_try_at if wait else None


def login(
    session: Session,
    *,
    password_ok: bool,
    user: WebUser | None,
    now: datetime,
    key: str = "",
) -> LoginOutcome:
    """Record an attempt whose password was checked by the caller; open a session on success.

    `key` names the client and account for throttling (see `failed_try`).
    """
    if user is None or not password_ok:
        until = failed_try(session, key=key, now=now) if key else None
        return LoginOutcome(locked_until=until)
    if key:
        session.execute(delete(LoginThrottle).where(col(LoginThrottle.key) == key))
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
