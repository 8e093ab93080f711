"""Which live items a person has, and which have nobody."""

from __future__ import annotations

from sqlmodel import Session, col, select

from models.enums import ItemKind, ItemState, ParseStatus
from models.tables import Item, ItemSubject

__all__ = ["live_items_of", "unassigned_items"]


def live_items_of(session: Session, *, subject_id: int, newest_first: bool = False) -> list[Item]:
    """A person's live items, by id (or newest first)."""
    linked = select(ItemSubject.item_id).where(ItemSubject.subject_id == subject_id)
    order = col(Item.received_at).desc() if newest_first else col(Item.id)
    return list(
        session.exec(
            select(Item)
            .where(col(Item.id).in_(linked), Item.state == ItemState.LIVE.value)
            .order_by(order)
        )
    )


def unassigned_items(
    session: Session, *, newest_first: bool = False, limit: int | None = None
) -> list[Item]:
    """Live items tied to nobody that a person should look at.

    Bulk mail (kept untagged under the 3-month rule on purpose) and exports
    are left out.
    """
    linked = select(ItemSubject.item_id)
    order = col(Item.received_at).desc() if newest_first else col(Item.id)
    query = (
        select(Item)
        .where(
            col(Item.id).not_in(linked),
            Item.state == ItemState.LIVE.value,
            col(Item.parse_status) != ParseStatus.SKIPPED.value,
            Item.kind != ItemKind.EXPORT.value,
        )
        .order_by(order)
    )
    return list(session.exec(query if limit is None else query.limit(limit)))
