"""What in the index needs a person: problem items, undelivered messages, stuck deletions.

Read by `gallra doctor` (and the page); typed rows, never content: ids,
kinds, statuses, reasons that name parts and rules, source labels.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, func, select

from models.enums import ItemState, ParseStatus
from models.tables import Item, ItemSource, UnfetchedMessage

__all__ = ["Flagged", "IndexHealth", "LeftDeleting", "Unfetched", "index_health"]

_WATCHED = (ParseStatus.ERROR, ParseStatus.WARNING, ParseStatus.PENDING, ParseStatus.QUARANTINED)


@dataclass(frozen=True)
class Flagged:
    """An item parsed with a problem, not parsed yet, or quarantined."""

    item_id: int
    kind: str
    status: str
    reason: str


@dataclass(frozen=True)
class Unfetched:
    """A message a server would not deliver (tried again every sync)."""

    source: str
    folder: str
    uid: int
    attempts: int
    reason: str
    first_failed_at: datetime


@dataclass(frozen=True)
class LeftDeleting:
    """An item a sweep marked but could not finish, and the places its copies are at."""

    item_id: int
    kind: str
    at: list[str]


@dataclass
class IndexHealth:
    """The index's part of doctor's report."""

    counts: dict[str, int] = field(default_factory=dict)  # items by parse status
    flagged: list[Flagged] = field(default_factory=list)
    unfetched: list[Unfetched] = field(default_factory=list)
    deleting: list[LeftDeleting] = field(default_factory=list)


def index_health(session: Session) -> IndexHealth:
    """Read it all (five queries)."""
    health = IndexHealth()
    health.counts = {
        status: count
        for status, count in session.exec(
            select(Item.parse_status, func.count()).group_by(col(Item.parse_status))
        )
    }
    health.flagged = [
        Flagged(item_id, kind, status, (reason or "")[:300])
        for item_id, kind, status, reason in session.exec(
            select(Item.id, Item.kind, Item.parse_status, Item.parse_error)
            .where(col(Item.parse_status).in_([s.value for s in _WATCHED]))
            .order_by(col(Item.id))
        )
        if item_id is not None
    ]
    health.unfetched = [
        Unfetched(u.source, u.folder, u.uid, u.attempts, u.reason, u.first_failed_at)
        for u in session.exec(
            select(UnfetchedMessage).order_by(
                col(UnfetchedMessage.source),
                col(UnfetchedMessage.folder),
                col(UnfetchedMessage.uid),
            )
        )
    ]
    stuck = list(
        session.exec(
            select(Item).where(Item.state == ItemState.DELETING.value).order_by(col(Item.id))
        )
    )
    places: dict[int, set[str]] = defaultdict(set)
    for item_id, source in session.exec(
        select(ItemSource.item_id, ItemSource.source).where(
            col(ItemSource.item_id).in_([i.id for i in stuck])
        )
    ):
        places[item_id].add(source)
    health.deleting = [
        LeftDeleting(item.id, item.kind, sorted(places[item.id] | {item.source}))
        for item in stuck
        if item.id is not None
    ]
    return health
