"""Adding items to the index after their bytes are stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from models.enums import ItemKind, ItemState, LegalBasis, ParseStatus
from models.policy import Policy
from models.tables import Item, ItemSubject, ItemText
from storage.blobs import StoredBlob
from storage.expiry import expiry_for
from storage.registry import subject_facts

__all__ = [
    "Link",
    "add_item",
    "assign_to",
    "item_row",
    "link_subjects",
    "set_text",
    "stamp_expiry",
]


Link = tuple[int, str, str]  # subject id, role (from/to/...), reason


def item_row(
    *,
    kind: ItemKind,
    source: str,
    source_ref: str,
    received_at: datetime,
    size: int,
    sha256: str,
    blob_key: str,
    created_at: datetime,
    mime_type: str = "application/octet-stream",
    parse_status: ParseStatus = ParseStatus.PENDING,
    title: str = "",
    purpose: str = "agreement",
    legal_basis: LegalBasis = LegalBasis.CONTRACT,
    parent_id: int | None = None,
    provided_by_subject: bool = False,
    special_category: bool = False,
    expires_at: datetime | None = None,
    rule_id: str = "",
    policy_version: str = "",
) -> dict[str, object]:
    """A new live item's columns, for bulk inserts (every item row is built here)."""
    return {
        "kind": kind.value,
        "parent_id": parent_id,
        "source": source,
        "source_ref": source_ref,
        "received_at": received_at,
        "size": size,
        "sha256": sha256,
        "mime_type": mime_type,
        "blob_key": blob_key,
        "parse_status": parse_status.value,
        "title": title,
        "purpose": purpose,
        "legal_basis": legal_basis.value,
        "special_category": special_category,
        "provided_by_subject": provided_by_subject,
        "expires_at": expires_at,
        "rule_id": rule_id,
        "policy_version": policy_version,
        "state": ItemState.LIVE.value,
        "media_info": "",
        "created_at": created_at,
    }


def add_item(
    session: Session,
    *,
    stored: StoredBlob,
    kind: ItemKind,
    source: str,
    received_at: datetime,
    purpose: str,
    legal_basis: LegalBasis,
    source_ref: str = "",
    title: str = "",
    mime_type: str = "application/octet-stream",
    special_category: bool = False,
    provided_by_subject: bool = False,
    parent_id: int | None = None,
    message_id: str | None = None,
    parse_status: ParseStatus = ParseStatus.PENDING,
) -> Item:
    """Record an item whose bytes are already in the blob store (the caller commits)."""
    item = Item(
        kind=kind.value,
        parent_id=parent_id,
        source=source,
        source_ref=source_ref,
        message_id=message_id,
        received_at=received_at,
        size=stored.size,
        sha256=stored.sha256,
        mime_type=mime_type,
        blob_key=stored.key,
        parse_status=parse_status.value,
        title=title,
        purpose=purpose,
        legal_basis=legal_basis.value,
        special_category=special_category,
        provided_by_subject=provided_by_subject,
        state=ItemState.LIVE.value,
    )
    session.add(item)
    session.flush()
    return item


def link_subjects(session: Session, *, item_id: int, links: Sequence[Link]) -> None:
    """Tie an item to subjects, each with the role and the reason."""
    for subject_id, role, reason in links:
        session.merge(ItemSubject(item_id=item_id, subject_id=subject_id, role=role, reason=reason))
    session.flush()


def set_text(session: Session, *, item_id: int, body: str) -> None:
    """Store (or replace) an item's searchable text."""
    session.merge(ItemText(item_id=item_id, body=body))
    session.flush()


def stamp_expiry(
    session: Session, policy: Policy, *, item: Item, subject_ids: Sequence[int]
) -> None:
    """Set expires_at, rule and policy version from the current facts."""
    expiry = expiry_for(policy, item, subject_ids, subject_facts(session, subject_ids=subject_ids))
    item.expires_at = expiry.expires_at
    item.rule_id = expiry.rule_id
    item.policy_version = expiry.policy_version
    session.add(item)
    session.flush()


def assign_to(session: Session, policy: Policy, *, item_id: int, subject_id: int) -> list[Item]:
    """Tie an item and its attachments to a person and date them anew; those items.

    InvalidInput (naming the id) when the item or the person does not exist.
    """
    from sqlmodel import select

    from models.errors import InvalidInput
    from models.tables import Subject

    item = session.get(Item, item_id)
    if item is None:
        raise InvalidInput(f"item {item_id}: no such item")
    if session.get(Subject, subject_id) is None:
        raise InvalidInput(f"subject {subject_id}: no such subject")
    link_subjects(
        session, item_id=item_id, links=[(subject_id, "assigned", "assigned by the coach")]
    )
    people = list(
        session.exec(select(ItemSubject.subject_id).where(ItemSubject.item_id == item_id))
    )
    children = list(session.exec(select(Item).where(Item.parent_id == item_id)))
    for child in children:
        assert child.id is not None
        link_subjects(
            session,
            item_id=child.id,
            links=[(subject_id, "assigned", f"attachment of item {item_id}")],
        )
        stamp_expiry(session, policy, item=child, subject_ids=people)
    stamp_expiry(session, policy, item=item, subject_ids=people)
    return [item, *children]
