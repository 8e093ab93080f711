"""Data-subject requests: received, deadline, extension, holds, outcome.

The deadline is one calendar month from receipt (GDPR art. 12(3)), clamped
to the month's end (received 31 January: due 28 February), extendable once
by two further months with a reason. While an access or portability
request is open, the person's data is held: nothing they asked for
disappears before they get it. An erasure request never holds its own
erasure.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session, col, select

from models.enums import HoldKind, RequestRight, RequestStatus
from models.errors import InvalidInput
from models.policy import Period
from models.retention import add_period
from models.tables import Hold, Request, Subject
from storage.holds import add_hold

__all__ = ["close_request", "deadline_for", "extend_request", "open_request", "open_requests"]

_HOLDING = {RequestRight.ACCESS, RequestRight.PORTABILITY}


def deadline_for(received: date, *, extended: bool = False) -> date:
    """One calendar month after receipt, three when extended (month ends clamped)."""
    return add_period(received, Period(3 if extended else 1, "m"))


def open_request(
    session: Session, *, subject_id: int, right: RequestRight, received_on: date
) -> Request:
    """Record a request; access and portability hold the person's data until closed."""
    if session.get(Subject, subject_id) is None:
        raise InvalidInput(f"subject {subject_id}: no such subject")
    request = Request(
        subject_id=subject_id,
        right=right.value,
        received_on=received_on,
        deadline=deadline_for(received_on),
    )
    session.add(request)
    session.flush()
    if right in _HOLDING:
        add_hold(
            session,
            kind=HoldKind.REQUEST,
            reason=f"open {right.value} request {request.id}",
            subject_id=subject_id,
            request_id=request.id,
        )
    return request


def extend_request(session: Session, *, request_id: int, reason: str) -> Request:
    """Extend by two months (once), with the reason the person must be told."""
    request = session.get(Request, request_id)
    if request is None:
        raise InvalidInput(f"request {request_id}: no such request")
    if request.status != RequestStatus.OPEN.value:
        raise InvalidInput(f"request {request_id}: not open")
    if request.extension_reason:
        raise InvalidInput(f"request {request_id}: already extended once")
    if not reason.strip():
        raise InvalidInput("--reason: an extension needs a reason")
    request.deadline = deadline_for(request.received_on, extended=True)
    request.extension_reason = reason.strip()
    session.add(request)
    session.flush()
    return request


def close_request(
    session: Session, *, request_id: int, outcome: str, at: datetime, refused: bool = False
) -> Request:
    """Close a request with its outcome (no personal data); lifts the hold it placed."""
    request = session.get(Request, request_id)
    if request is None:
        raise InvalidInput(f"request {request_id}: no such request")
    request.status = (RequestStatus.REFUSED if refused else RequestStatus.DONE).value
    request.outcome = outcome
    request.closed_at = at
    session.add(request)
    for hold in session.exec(
        select(Hold).where(Hold.request_id == request_id, col(Hold.lifted_at).is_(None))
    ):
        hold.lifted_at = at
        session.add(hold)
    session.flush()
    return request


def open_requests(session: Session) -> list[Request]:
    """Open requests, soonest deadline first."""
    return list(
        session.exec(
            select(Request)
            .where(Request.status == RequestStatus.OPEN.value)
            .order_by(col(Request.deadline))
        )
    )
