"""Holds: legal holds, restrictions (art. 18) and open requests freeze data."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from models.enums import HoldKind
from models.errors import InvalidInput
from models.tables import Hold, Item, ItemSubject, Subject

__all__ = ["active_holds", "add_hold", "held_item_ids", "lift_hold", "subject_is_held"]


def add_hold(
    session: Session,
    *,
    kind: HoldKind,
    reason: str,
    subject_id: int | None = None,
    item_id: int | None = None,
    review_on: date | None = None,
    request_id: int | None = None,
) -> Hold:
    """Freeze one subject's data or one item; exactly one of them must be named."""
    if (subject_id is None) == (item_id is None):
        raise InvalidInput("hold: name either --subject or --item")
    if not reason.strip():
        raise InvalidInput("hold: --reason is required")
    if subject_id is not None and session.get(Subject, subject_id) is None:
        raise InvalidInput(f"hold: subject {subject_id}: no such subject")
    if item_id is not None and session.get(Item, item_id) is None:
        raise InvalidInput(f"hold: item {item_id}: no such item")
    hold = Hold(
        kind=kind.value,
        reason=reason.strip(),
        subject_id=subject_id,
        item_id=item_id,
        review_on=review_on,
        request_id=request_id,
    )
    session.add(hold)
    session.flush()
    return hold


def lift_hold(session: Session, *, hold_id: int, at: datetime) -> Hold:
    """Lift a hold (kept as a record with its lift time)."""
    hold = session.get(Hold, hold_id)
    if hold is None:
        raise InvalidInput(f"hold {hold_id}: no such hold")
    if hold.lifted_at is None:
        hold.lifted_at = at
        session.add(hold)
        session.flush()
    return hold


def active_holds(session: Session) -> list[Hold]:
    """Every hold not lifted."""
    return list(
        session.exec(select(Hold).where(col(Hold.lifted_at).is_(None)).order_by(col(Hold.id)))
    )


def held_item_ids(session: Session, item_ids: Iterable[int]) -> set[int]:
    """Which of `item_ids` an active hold covers, directly or through one of its subjects."""
    ids = list(item_ids)
    if not ids:
        return set()
    active = col(Hold.lifted_at).is_(None)
    direct = select(Hold.item_id).where(active, col(Hold.item_id).in_(ids))
    through_subject = (
        select(ItemSubject.item_id)
        .join(Hold, col(Hold.subject_id) == ItemSubject.subject_id)
        .where(active, col(ItemSubject.item_id).in_(ids))
    )
    held: set[int] = set()
    for query in (direct, through_subject):
        held |= {row for row in session.exec(query) if row is not None}
    return held


def subject_is_held(session: Session, subject_id: int) -> bool:
    """Whether an active hold names this subject."""
    return (
        session.exec(
            select(Hold.id).where(
                col(Hold.lifted_at).is_(None),
                or_(col(Hold.subject_id) == subject_id),
            )
        ).first()
        is not None
    )
