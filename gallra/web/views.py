"""What the pages show, loaded from the index as plain values (no web types here)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from gallra.errors import NotFound
from models.enums import IdentifierKind, ItemKind, ItemState, LegalBasis, Role
from models.policy import Policy
from models.tables import (
    Consent,
    Engagement,
    EngagementParty,
    Hold,
    Item,
    ItemSubject,
    Request,
    Subject,
)
from storage.expiry import kept_until, subject_retention
from storage.listing import live_items_of
from storage.registry import identifiers_of

__all__ = [
    "PARTY_ROLES",
    "ItemPage",
    "SubjectPage",
    "find_people",
    "item_page",
    "live_item",
    "subject_choices",
    "subject_page",
]


# Who may be linked to an agreement as acting for its client.
PARTY_ROLES = [
    r.value for r in (Role.PAYER, Role.GUARDIAN, Role.TRUSTEE, Role.ATTORNEY, Role.COMPANY_CONTACT)
]


@dataclass
class SubjectPage:
    """A person: masked identifiers, roles, agreements, holds, requests and items."""

    subject: Subject
    identifiers: list[dict[str, str]]
    engagements: list[Engagement]
    acting_for: list[EngagementParty]
    holds: list[Hold]
    requests: list[dict[str, Any]]
    items: list[Item]
    kept_until: date | None
    rule: str
    exports: list[Item] = field(default_factory=list)
    consents: dict[str, bool] = field(default_factory=dict)  # consent purpose -> in force
    party_of: list[tuple[Engagement, str]] = field(default_factory=list)  # (agreement, client)


@dataclass
class ItemPage:
    """One item with its people, attachments, parent and freezes."""

    item: Item
    subjects: list[tuple[Subject, ItemSubject]]
    children: list[Item]
    parent: Item | None
    holds: list[Hold]


def subject_page(session: Session, policy: Policy, *, subject_id: int, today: date) -> SubjectPage:
    """Everything the subject page shows."""
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound(f"subject {subject_id}: no such subject")
    items = live_items_of(session, subject_id=subject_id, newest_first=True)
    retention = subject_retention(session, policy, subject_id=subject_id, today=today)
    requests = [
        {"request": r, "days_left": (r.deadline - today).days}
        for r in session.exec(
            select(Request)
            .where(Request.subject_id == subject_id, Request.status == "open")
            .order_by(col(Request.deadline))
        )
    ]
    return SubjectPage(
        subject=subject,
        # The coach sees her own client's addresses and phones in full; a
        # personnummer is held only as a keyed hash, so only its masked form exists.
        identifiers=[
            {
                "kind": i.kind,
                "shown": i.masked if i.kind == IdentifierKind.PERSONNUMMER.value else i.value,
                "value": i.value if i.kind == IdentifierKind.EMAIL.value else "",
            }
            for i in identifiers_of(session, subject_id=subject_id)
        ],
        engagements=list(
            session.exec(
                select(Engagement)
                .where(Engagement.client_id == subject_id)
                .order_by(col(Engagement.starts_on))
            )
        ),
        acting_for=list(
            session.exec(select(EngagementParty).where(EngagementParty.subject_id == subject_id))
        ),
        holds=list(
            session.exec(
                select(Hold).where(Hold.subject_id == subject_id, col(Hold.lifted_at).is_(None))
            )
        ),
        requests=requests,
        items=[i for i in items if i.kind != ItemKind.EXPORT.value],
        exports=[i for i in items if i.kind == ItemKind.EXPORT.value],
        kept_until=kept_until(retention.deletable_from),
        rule=retention.rule_id,
        consents=_consents(session, policy, subject_id),
        party_of=[
            (engagement, client.display_name)
            for party, engagement, client in session.exec(
                select(EngagementParty, Engagement, Subject)
                .join(Engagement, col(Engagement.id) == col(EngagementParty.engagement_id))
                .join(Subject, col(Subject.id) == col(Engagement.client_id))
                .where(EngagementParty.subject_id == subject_id)
            )
        ],
    )


def _consents(session: Session, policy: Policy, subject_id: int) -> dict[str, bool]:
    """Each purpose the policy rests on consent, and whether this person's is in force."""
    given = {
        c.purpose: c.withdrawn_at is None
        for c in session.exec(
            select(Consent).where(Consent.subject_id == subject_id).order_by(col(Consent.id))
        )
    }
    return {
        purpose: given.get(purpose, False)
        for purpose, rules in policy.purposes.items()
        if LegalBasis.CONSENT in rules.legal_bases
    }


def live_item(session: Session, *, item_id: int) -> Item:
    """A live item, or NotFound."""
    item = session.get(Item, item_id)
    if item is None or item.state != ItemState.LIVE.value:
        raise NotFound(f"item {item_id}: no such item")
    return item


def item_page(session: Session, *, item_id: int) -> ItemPage:
    """Everything the item page shows except the content itself."""
    item = live_item(session, item_id=item_id)
    subjects = [
        (subject, link)
        for link, subject in session.exec(
            select(ItemSubject, Subject)
            .join(Subject, col(Subject.id) == col(ItemSubject.subject_id))
            .where(ItemSubject.item_id == item_id)
        )
    ]
    subject_ids = [s.id for s, _ in subjects]
    return ItemPage(
        item=item,
        subjects=subjects,
        children=list(
            session.exec(
                select(Item)
                .where(Item.parent_id == item_id, Item.state == ItemState.LIVE.value)
                .order_by(col(Item.id))
            )
        ),
        parent=session.get(Item, item.parent_id) if item.parent_id else None,
        holds=list(
            session.exec(
                select(Hold).where(
                    col(Hold.lifted_at).is_(None),
                    (col(Hold.item_id) == item_id) | col(Hold.subject_id).in_(subject_ids),
                )
            )
        ),
    )


def subject_choices(session: Session) -> list[tuple[int, str]]:
    """(id, name) of every subject, by name, for an assign list."""
    return [
        (s.id, s.display_name)
        for s in session.exec(select(Subject).order_by(col(Subject.display_name)))
        if s.id is not None
    ]


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def find_people(session: Session, words: list[str], *, limit: int = 8) -> list[Subject]:
    """Subjects whose name holds every word, ignoring case and diacritics.

    Names are matched in Python: a practice has hundreds of people, and
    SQLite's lower() knows only ASCII (Öhman would not match öhman).
    """
    if not words:
        return []
    wanted = [_fold(w) for w in words]
    found = [
        s
        for s in session.exec(select(Subject).order_by(col(Subject.display_name)))
        if all(w in _fold(s.display_name) for w in wanted)
    ]
    return found[:limit]
