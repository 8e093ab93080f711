"""Stamping and recomputing expiry in the index with the one pure policy function."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.clock import local_date
from models.enums import ItemState, LegalBasis
from models.policy import Policy
from models.retention import (
    Expiry,
    ItemFacts,
    SubjectFacts,
    compute_expiry,
    kept_until,
    registry_probe,
)
from models.tables import Item, ItemSubject, Subject
from storage.listing import live_items_of
from storage.registry import subject_facts

__all__ = [
    "ExpiryChange",
    "SubjectRetention",
    "expiry_for",
    "item_facts",
    "kept_until",
    "recompute",
    "subject_retention",
]

_BATCH = 1000


@dataclass(frozen=True)
class ExpiryChange:
    """An item whose expiry or rule moves."""

    item_id: int
    old: datetime | None
    new: datetime | None
    old_rule: str
    new_rule: str

    @property
    def shift_days(self) -> int | None:
        """How many days the date moves (None when either side is open-ended)."""
        if self.old is None or self.new is None:
            return None
        return (self.new - self.old).days


def item_facts(item: Item) -> ItemFacts:
    """The pure facts of an item row."""
    return ItemFacts(
        item_date=local_date(item.received_at),
        purpose=item.purpose,
        legal_basis=LegalBasis(item.legal_basis),
        special_category=item.special_category,
    )


def expiry_for(
    policy: Policy, item: Item, subject_ids: Sequence[int], facts: dict[int, SubjectFacts]
) -> Expiry:
    """The expiry of one item given its subjects' facts."""
    return compute_expiry(policy, item_facts(item), [facts[sid] for sid in subject_ids])


def _item_batches(
    session: Session, item_ids: Sequence[int] | None, subject_ids: Sequence[int] | None
) -> Iterator[list[Item]]:
    query = select(Item).where(Item.state == ItemState.LIVE.value)
    if item_ids is not None:
        query = query.where(col(Item.id).in_(list(item_ids)))
    if subject_ids is not None:
        linked = select(ItemSubject.item_id).where(
            col(ItemSubject.subject_id).in_(list(subject_ids))
        )
        query = query.where(col(Item.id).in_(linked))
    last_id = 0
    while True:
        batch = list(
            session.exec(query.where(col(Item.id) > last_id).order_by(col(Item.id)).limit(_BATCH))
        )
        if not batch:
            return
        yield batch
        last_id = batch[-1].id or last_id


def recompute(
    session: Session,
    policy: Policy,
    *,
    item_ids: Sequence[int] | None = None,
    subject_ids: Sequence[int] | None = None,
    apply: bool = True,
) -> list[ExpiryChange]:
    """Recompute live items (all, or those given, or those of given subjects).

    Returns every change; writes them when `apply` (the caller commits).
    A dry run (`apply=False`) touches nothing.
    """
    changes: list[ExpiryChange] = []
    for batch in _item_batches(session, item_ids, subject_ids):
        ids = [item.id for item in batch if item.id is not None]
        links: dict[int, list[int]] = defaultdict(list)
        for link in session.exec(select(ItemSubject).where(col(ItemSubject.item_id).in_(ids))):
            links[link.item_id].append(link.subject_id)
        facts = subject_facts(session, subject_ids={s for subs in links.values() for s in subs})
        for item in batch:
            assert item.id is not None
            expiry = expiry_for(policy, item, links[item.id], facts)
            if (
                expiry.expires_at == item.expires_at
                and expiry.rule_id == item.rule_id
                and expiry.policy_version == item.policy_version
            ):
                continue
            if expiry.expires_at != item.expires_at or expiry.rule_id != item.rule_id:
                changes.append(
                    ExpiryChange(
                        item.id, item.expires_at, expiry.expires_at, item.rule_id, expiry.rule_id
                    )
                )
            if apply:
                session.execute(
                    update(Item)
                    .where(col(Item.id) == item.id)
                    .values(
                        expires_at=expiry.expires_at,
                        rule_id=expiry.rule_id,
                        policy_version=expiry.policy_version,
                    )
                )
        session.expire_all()
    return changes


@dataclass(frozen=True)
class SubjectRetention:
    """How long a subject's data is kept under the current facts."""

    deletable_from: date | None  # None: kept while a contract runs or a claim is open
    rule_id: str
    items: int
    basis: str  # "items" when computed from held items, "registry" for the entry alone


def subject_retention(
    session: Session, policy: Policy, *, subject_id: int, today: date
) -> SubjectRetention:
    """The last claim on anything of this subject's, or on their registry entry.

    With items, it is the latest expiry among them; without, the date an
    agreement record made today would go (the registry entry follows it).
    """
    facts = subject_facts(session, subject_ids=[subject_id])
    items = live_items_of(session, subject_id=subject_id)
    if items:
        open_rule = next((i.rule_id for i in items if i.expires_at is None), None)
        if open_rule is not None:
            return SubjectRetention(None, open_rule, len(items), "items")
        latest = max(items, key=lambda i: i.expires_at or datetime.min)
        assert latest.expires_at is not None
        return SubjectRetention(local_date(latest.expires_at), latest.rule_id, len(items), "items")
    subject = session.get(Subject, subject_id)
    registered = local_date(subject.created_at) if subject is not None else today
    probe = registry_probe(facts[subject_id], min(registered, today))
    expiry = compute_expiry(policy, probe, [facts[subject_id]])
    return SubjectRetention(expiry.deletable_from, expiry.rule_id, 0, "registry")
