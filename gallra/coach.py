"""The coach's everyday actions as plain functions: the CLI and the web page both call these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from gallra.wiring import App
from storage.expiry import recompute
from storage.registry import end_engagement

__all__ = [
    "Assigned",
    "Correction",
    "EngagementEnded",
    "Rectified",
    "assign_item",
    "finish_engagement",
    "rectify",
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
