"""Which live items a person has, and which have nobody."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from models.enums import ItemKind, ItemState, ParseStatus
from models.tables import Hold, Item, ItemSubject, Subject

__all__ = ["ItemOverview", "items_overview", "live_items_of", "unassigned_items"]


@dataclass
class ItemOverview:
    """What a list of items shows a person: kind, dates, rule, people, what freezes it."""

    item_id: int
    kind: str
    received_at: datetime
    expires_at: datetime | None
    rule_id: str
    people: list[tuple[int, str]] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)  # kinds of the active holds on it


def items_overview(session: Session, item_ids: list[int]) -> list[ItemOverview]:
    """The overview of these items (in id order), with their people and active holds."""
    if not item_ids:
        return []
    found: dict[int, ItemOverview] = {}
    for chunk in (item_ids[i : i + 500] for i in range(0, len(item_ids), 500)):
        for item in session.exec(select(Item).where(col(Item.id).in_(chunk))):
            assert item.id is not None
            found[item.id] = ItemOverview(
                item.id, item.kind, item.received_at, item.expires_at, item.rule_id
            )
        people = session.exec(
            select(ItemSubject.item_id, Subject.id, Subject.display_name)
            .join(Subject, col(Subject.id) == ItemSubject.subject_id)
            .where(col(ItemSubject.item_id).in_(chunk))
            .order_by(col(Subject.display_name))
        )
        for item_id, subject_id, name in people:
            if item_id in found and subject_id is not None:
                found[item_id].people.append((subject_id, name))
        by_subject = session.exec(
            select(ItemSubject.item_id, Hold.kind)
            .join(Hold, col(Hold.subject_id) == ItemSubject.subject_id)
            .where(col(ItemSubject.item_id).in_(chunk), col(Hold.lifted_at).is_(None))
        )
        by_item = session.exec(
            select(Hold.item_id, Hold.kind).where(
                col(Hold.item_id).in_(chunk), col(Hold.lifted_at).is_(None)
            )
        )
        for item_id, kind in [*by_subject, *by_item]:
            if item_id in found and kind not in found[item_id].holds:
                found[item_id].holds.append(kind)
    return [found[i] for i in sorted(found)]


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

    Bulk mail (kept untagged under the 3-month rule on purpose), files refused
    at intake (the problems list shows them) and exports are left out.
    """
    linked = select(ItemSubject.item_id)
    order = col(Item.received_at).desc() if newest_first else col(Item.id)
    query = (
        select(Item)
        .where(
            col(Item.id).not_in(linked),
            Item.state == ItemState.LIVE.value,
            col(Item.parse_status).not_in(
                [ParseStatus.SKIPPED.value, ParseStatus.QUARANTINED.value]
            ),
            Item.kind != ItemKind.EXPORT.value,
        )
        .order_by(order)
    )
    return list(session.exec(query if limit is None else query.limit(limit)))
