"""What an erasure must know about a person's items, read in a few queries (not per item).

The items tied to the person, who else each item is tied to, the retention
facts of everyone involved, and what a hold freezes: the erasure plan
(gallra.rights) decides from these alone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlmodel import Session, col, select

from models.retention import SubjectFacts
from models.tables import Hold, Item, ItemSubject
from storage.registry import subject_facts

__all__ = ["ErasureView", "erasure_view"]


@dataclass(frozen=True)
class ErasureView:
    """A person's items and what bears on deleting each."""

    items: list[Item]
    others: dict[int, list[int]]  # item id -> the other people it is tied to
    facts: dict[int, SubjectFacts]  # of the person and of every other person involved
    held_items: set[int]  # items an item hold (legal hold, restriction) freezes
    person_held: bool  # a legal hold or restriction on the person (not a request's hold)


def erasure_view(session: Session, *, subject_id: int) -> ErasureView:
    """The view for erasing `subject_id` (four queries whatever the number of items)."""
    linked = select(ItemSubject.item_id).where(ItemSubject.subject_id == subject_id)
    items = list(session.exec(select(Item).where(col(Item.id).in_(linked)).order_by(col(Item.id))))
    ids = [item.id for item in items if item.id is not None]
    others: dict[int, list[int]] = defaultdict(list)
    for item_id, other in session.exec(
        select(ItemSubject.item_id, ItemSubject.subject_id).where(
            col(ItemSubject.item_id).in_(ids), ItemSubject.subject_id != subject_id
        )
    ):
        others[item_id].append(other)
    people = {subject_id, *(s for group in others.values() for s in group)}
    held_items = {
        item_id
        for item_id in session.exec(
            select(Hold.item_id).where(col(Hold.item_id).in_(ids), col(Hold.lifted_at).is_(None))
        )
        if item_id is not None
    }
    person_held = (
        session.exec(
            select(Hold.id).where(
                Hold.subject_id == subject_id,
                col(Hold.lifted_at).is_(None),
                Hold.kind != "request",
            )
        ).first()
        is not None
    )
    return ErasureView(
        items, dict(others), subject_facts(session, subject_ids=people), held_items, person_held
    )
