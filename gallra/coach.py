"""The coach's everyday actions as plain functions: the CLI and the web page both call these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from gallra.wiring import App
from storage.expiry import recompute
from storage.registry import end_engagement

__all__ = [
    "Assigned",
    "Correction",
    "DatesAfter",
    "EngagementEnded",
    "EngagementStarted",
    "Rectified",
    "Registered",
    "assign_item",
    "begin_engagement",
    "finish_engagement",
    "link_party",
    "preview_engagement_end",
    "preview_engagement_start",
    "rectify",
    "register_person",
]


@dataclass(frozen=True)
class Assigned:
    """Where an assigned item now stands."""

    item_id: int
    subject_id: int
    rule_id: str
    expires_at: datetime | None


@dataclass(frozen=True)
class EngagementEnded:
    """An ended agreement and how many items moved to a new expiry."""

    engagement_id: int
    ends_on: date
    items_restamped: int


def assign_item(gallra: App, *, item_id: int, subject_id: int) -> Assigned:
    """Tie an item (and its attachments) to a person; expiry follows their facts."""
    from storage.items import assign_to

    with gallra.session() as session:
        items = assign_to(session, gallra.policy, item_id=item_id, subject_id=subject_id)
        item = items[0]
        assigned = Assigned(item_id, subject_id, item.rule_id, item.expires_at)
    gallra.bind_keys([i.blob_key for i in items])
    return assigned


def finish_engagement(gallra: App, *, engagement_id: int, ends_on: date) -> EngagementEnded:
    """Record the end of an agreement and restamp its people's items."""
    from storage.registry import engagement_people

    with gallra.session() as session:
        end_engagement(session, engagement_id=engagement_id, ends_on=ends_on)
        people = engagement_people(session, engagement_id=engagement_id)
    with gallra.session() as session:
        changed = len(recompute(session, gallra.policy, subject_ids=people))
    return EngagementEnded(engagement_id, ends_on, changed)


@dataclass(frozen=True)
class Correction:
    """What a rectification (art. 16) changes; empty fields change nothing."""

    name: str | None = None
    add_emails: tuple[str, ...] = ()
    remove_emails: tuple[str, ...] = ()
    add_phones: tuple[str, ...] = ()
    personnummer: str | None = None


@dataclass(frozen=True)
class Rectified:
    """Which fields changed (names of fields, never values) and the request recording it."""

    changed: list[str]
    request_id: int


def rectify(gallra: App, *, subject_id: int, correction: Correction) -> Rectified:
    """Correct or complete a person's registry data, recorded as a closed request."""
    import json

    from models.enums import RequestRight
    from models.errors import InvalidInput
    from storage.rectification import correct_subject
    from storage.requests import close_request, open_request

    with gallra.session() as session:
        changed = correct_subject(
            session,
            subject_id=subject_id,
            name=correction.name,
            add_emails=correction.add_emails,
            remove_emails=correction.remove_emails,
            add_phones=correction.add_phones,
            personnummer=correction.personnummer,
            today=gallra.today,
            hash_key=gallra.hash_key if correction.personnummer is not None else b"",
        )
        if not changed:
            raise InvalidInput("subject edit: nothing to change")
        request = open_request(
            session,
            subject_id=subject_id,
            right=RequestRight.RECTIFICATION,
            received_on=gallra.today,
        )
        assert request.id is not None
        close_request(
            session, request_id=request.id, at=gallra.clock.now(),
            outcome=json.dumps({"changed": changed}),
        )  # fmt: skip
    return Rectified(changed, request.id)


@dataclass(frozen=True)
class Registered:
    """A person just registered: their id and roles."""

    subject_id: int
    roles: list[str]


def register_person(
    gallra: App,
    *,
    name: str,
    emails: tuple[str, ...] = (),
    phones: tuple[str, ...] = (),
    roles: tuple[str, ...] = (),
    personnummer: str | None = None,
) -> Registered:
    """Register a person; the personnummer is checked and kept only as a keyed hash."""
    from models.enums import Role
    from models.errors import InvalidInput
    from models.personnummer import parse_personnummer
    from storage.registry import NewIdentifier, add_subject

    if not name.strip():
        raise InvalidInput("name: required")
    identifiers = [NewIdentifier.email(a) for a in emails]
    identifiers += [NewIdentifier.phone(p) for p in phones]
    if personnummer:
        number = parse_personnummer(personnummer, today=gallra.today)
        identifiers.append(NewIdentifier.personnummer(number, hash_key=gallra.hash_key))
    try:
        chosen = [Role(r) for r in roles] or [Role.PROSPECT]
    except ValueError:
        raise InvalidInput("role: not a role") from None
    with gallra.session() as session:
        subject = add_subject(
            session, display_name=name.strip(), roles=chosen, identifiers=identifiers
        )
        assert subject.id is not None
        return Registered(subject.id, subject.role_list)


@dataclass(frozen=True)
class DatesAfter:
    """What a change to an agreement does to one person's dates (no content)."""

    subject_id: int
    name: str
    items: int
    kept_until: date | None  # None: kept while an agreement runs


@dataclass(frozen=True)
class EngagementStarted:
    """A started agreement and how many items moved to the contract rule."""

    engagement_id: int
    client_id: int
    items_restamped: int


def begin_engagement(gallra: App, *, subject_id: int, starts_on: date) -> EngagementStarted:
    """Open an agreement for a client; their items move to the contract rule."""
    from storage.registry import start_engagement

    with gallra.session() as session:
        engagement = start_engagement(session, client_id=subject_id, starts_on=starts_on)
        assert engagement.id is not None
        changed = len(recompute(session, gallra.policy, subject_ids=[subject_id]))
        return EngagementStarted(engagement.id, subject_id, changed)


def link_party(gallra: App, *, engagement_id: int, subject_id: int, role: str) -> int:
    """Link a payer or contact to the agreement they act for; items restamped."""
    from models.enums import Role
    from models.errors import InvalidInput
    from storage.registry import add_party

    try:
        chosen = Role(role)
    except ValueError:
        raise InvalidInput("role: not a role") from None
    with gallra.session() as session:
        add_party(session, engagement_id=engagement_id, subject_id=subject_id, role=chosen)
        return len(recompute(session, gallra.policy, subject_ids=[subject_id]))


def preview_engagement_end(gallra: App, *, engagement_id: int, ends_on: date) -> list[DatesAfter]:
    """Each person's dates if the agreement ended on `ends_on`; nothing is written."""
    from storage.registry import engagement_people

    with gallra.session() as session:
        end_engagement(session, engagement_id=engagement_id, ends_on=ends_on)
        people = engagement_people(session, engagement_id=engagement_id)
        recompute(session, gallra.policy, subject_ids=people)
        after = _dates_of(session, gallra, people)
        session.rollback()
    return after


def preview_engagement_start(gallra: App, *, subject_id: int, starts_on: date) -> list[DatesAfter]:
    """The person's dates if an agreement started on `starts_on`; nothing is written."""
    from storage.registry import start_engagement

    with gallra.session() as session:
        start_engagement(session, client_id=subject_id, starts_on=starts_on)
        recompute(session, gallra.policy, subject_ids=[subject_id])
        after = _dates_of(session, gallra, [subject_id])
        session.rollback()
    return after


def _dates_of(session: Session, gallra: App, people: list[int]) -> list[DatesAfter]:
    from models.enums import ItemKind
    from models.tables import Subject
    from storage.expiry import kept_until, subject_retention
    from storage.listing import live_items_of

    after = []
    for subject_id in people:
        subject = session.get(Subject, subject_id)
        if subject is None:
            continue
        items = [
            i
            for i in live_items_of(session, subject_id=subject_id, newest_first=True)
            if i.kind != ItemKind.EXPORT.value
        ]
        retention = subject_retention(
            session, gallra.policy, subject_id=subject_id, today=gallra.today
        )
        after.append(
            DatesAfter(
                subject_id, subject.display_name, len(items), kept_until(retention.deletable_from)
            )
        )
    return after
