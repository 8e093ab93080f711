"""Registry queries: subjects, identifiers, engagements, and the facts retention needs.

Functions take the session and keyword-only arguments; the caller owns the
transaction (nothing here commits).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from models.clock import local_date
from models.enums import IdentifierKind, Role, SubjectStatus
from models.errors import InvalidInput
from models.identifiers import mask_email, normalise_email, normalise_phone
from models.personnummer import Personnummer
from models.retention import SubjectFacts
from models.tables import Consent, Engagement, EngagementParty, Identifier, Subject
from models.types import utcnow

__all__ = [
    "NewIdentifier",
    "add_identifier",
    "add_party",
    "add_subject",
    "block_marketing_to",
    "end_engagement",
    "engagement_people",
    "find_subject_by_email",
    "identifiers_of",
    "start_engagement",
    "subject_facts",
    "subject_or_none",
]


@dataclass(frozen=True)
class NewIdentifier:
    """An identifier ready to store: kind, normalised value, masked form."""

    kind: IdentifierKind
    value: str
    masked: str

    @classmethod
    def email(cls, address: str) -> NewIdentifier:
        """An e-mail identifier."""
        value = normalise_email(address)
        return cls(IdentifierKind.EMAIL, value, mask_email(value))

    @classmethod
    def phone(cls, number: str) -> NewIdentifier:
        """A phone identifier."""
        value = normalise_phone(number)
        return cls(IdentifierKind.PHONE, value, value[:-4] + "****")

    @classmethod
    def personnummer(cls, number: Personnummer, *, hash_key: bytes) -> NewIdentifier:
        """A personnummer identifier: keyed hash and masked form only."""
        return cls(IdentifierKind.PERSONNUMMER, number.keyed_hash(hash_key), number.masked)


def _set_roles(subject: Subject, roles: Iterable[str]) -> None:
    subject.roles = ",".join(sorted({Role(role).value for role in roles}))


def add_identifier(session: Session, *, subject_id: int, identifier: NewIdentifier) -> Identifier:
    """Attach an identifier; InvalidInput if another subject already has it."""
    existing = session.exec(
        select(Identifier).where(
            Identifier.kind == identifier.kind.value, Identifier.value == identifier.value
        )
    ).first()
    if existing is not None:
        if existing.subject_id == subject_id:
            return existing
        raise InvalidInput(
            f"{identifier.kind.value}: already registered to subject {existing.subject_id}"
        )
    row = Identifier(
        subject_id=subject_id,
        kind=identifier.kind.value,
        value=identifier.value,
        masked=identifier.masked,
    )
    session.add(row)
    session.flush()
    return row


def add_subject(
    session: Session,
    *,
    display_name: str,
    roles: Sequence[str] = (Role.PROSPECT,),
    identifiers: Sequence[NewIdentifier] = (),
) -> Subject:
    """Register a person with their identifiers."""
    if not display_name.strip():
        raise InvalidInput("--name: a subject needs a display name")
    subject = Subject(display_name=display_name.strip())
    _set_roles(subject, roles)
    session.add(subject)
    session.flush()
    assert subject.id is not None
    for identifier in identifiers:
        add_identifier(session, subject_id=subject.id, identifier=identifier)
    return subject


def block_marketing_to(session: Session, *, subject_id: int, hash_key: bytes) -> int:
    """Keep a direct-marketing block for each of a person's addresses, as a keyed hash only
    (it must outlive the person's entry, and must not say who they were); how many."""
    from models.personnummer import keyed_hash
    from models.tables import MarketingBlock

    addresses = session.exec(
        select(Identifier.value).where(
            Identifier.subject_id == subject_id, Identifier.kind == IdentifierKind.EMAIL.value
        )
    ).all()
    for value in addresses:
        session.merge(MarketingBlock(address_hash=keyed_hash(hash_key, value)))
    return len(addresses)


def subject_or_none(session: Session, subject_id: int) -> Subject | None:
    """The subject with this id, if any."""
    return session.get(Subject, subject_id)


def identifiers_of(session: Session, *, subject_id: int) -> list[Identifier]:
    """A subject's identifiers."""
    return list(
        session.exec(
            select(Identifier)
            .where(Identifier.subject_id == subject_id)
            .order_by(col(Identifier.id))
        )
    )


def find_subject_by_email(session: Session, *, address: str) -> Subject | None:
    """The subject owning this e-mail address (case-insensitive)."""
    try:
        value = normalise_email(address)
    except InvalidInput:
        return None
    row = session.exec(
        select(Identifier).where(
            Identifier.kind == IdentifierKind.EMAIL.value, Identifier.value == value
        )
    ).first()
    return None if row is None else session.get(Subject, row.subject_id)


def start_engagement(session: Session, *, client_id: int, starts_on: date) -> Engagement:
    """Open a coaching agreement; the subject becomes a client (POLICY.md rule 4)."""
    subject = session.get(Subject, client_id)
    if subject is None:
        raise InvalidInput(f"subject {client_id}: no such subject")
    engagement = Engagement(client_id=client_id, starts_on=starts_on)
    session.add(engagement)
    _set_roles(subject, [r for r in subject.role_list if r != Role.PROSPECT] + [Role.CLIENT])
    subject.updated_at = utcnow()
    session.flush()
    return engagement


def end_engagement(session: Session, *, engagement_id: int, ends_on: date) -> Engagement:
    """Record the end of an agreement; refuses an end before its start."""
    engagement = session.get(Engagement, engagement_id)
    if engagement is None:
        raise InvalidInput(f"engagement {engagement_id}: no such engagement")
    if ends_on < engagement.starts_on:
        raise InvalidInput(f"engagement {engagement_id}: --on is before the start date")
    engagement.ends_on = ends_on
    session.add(engagement)
    session.flush()
    return engagement


def engagement_people(session: Session, *, engagement_id: int) -> list[int]:
    """The client and every payer or contact of an agreement (their dates follow it)."""
    engagement = session.get(Engagement, engagement_id)
    if engagement is None:
        raise InvalidInput(f"engagement {engagement_id}: no such engagement")
    parties = session.exec(
        select(EngagementParty.subject_id).where(EngagementParty.engagement_id == engagement_id)
    )
    return [engagement.client_id, *parties]


def add_party(session: Session, *, engagement_id: int, subject_id: int, role: Role) -> None:
    """Link a payer, guardian or contact to an engagement they act for."""
    if session.get(Engagement, engagement_id) is None:
        raise InvalidInput(f"engagement {engagement_id}: no such engagement")
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise InvalidInput(f"subject {subject_id}: no such subject")
    session.merge(EngagementParty(engagement_id=engagement_id, subject_id=subject_id, role=role))
    _set_roles(subject, [r for r in subject.role_list if r != Role.PROSPECT] + [role])
    session.flush()


def subject_facts(session: Session, *, subject_ids: Iterable[int]) -> dict[int, SubjectFacts]:
    """The retention facts of each subject, in few queries."""
    ids = sorted(set(subject_ids))
    if not ids:
        return {}
    subjects = {s.id: s for s in session.exec(select(Subject).where(col(Subject.id).in_(ids)))}
    ends: dict[int, list[date | None]] = {sid: [] for sid in ids}
    for engagement in session.exec(select(Engagement).where(col(Engagement.client_id).in_(ids))):
        ends[engagement.client_id].append(engagement.ends_on)
    party_rows = session.exec(
        select(col(EngagementParty.subject_id), col(Engagement.ends_on))
        .join(Engagement, col(Engagement.id) == EngagementParty.engagement_id)
        .where(col(EngagementParty.subject_id).in_(ids))
    )
    for subject_id, ends_on in party_rows:
        ends[subject_id].append(ends_on)
    withdrawn: dict[int, dict[str, date]] = {sid: {} for sid in ids}
    latest: dict[tuple[int, str], Consent] = {}
    for consent in session.exec(
        select(Consent).where(col(Consent.subject_id).in_(ids)).order_by(col(Consent.given_at))
    ):
        latest[(consent.subject_id, consent.purpose)] = consent
    for (subject_id, purpose), consent in latest.items():
        if consent.withdrawn_at is not None:
            withdrawn[subject_id][purpose] = local_date(consent.withdrawn_at)
    facts: dict[int, SubjectFacts] = {}
    for sid, subject in subjects.items():
        assert sid is not None
        subject_ends = ends[sid]
        facts[sid] = SubjectFacts(
            status=SubjectStatus.CLIENT if subject_ends else SubjectStatus.PROSPECT,
            engagement_running=any(end is None for end in subject_ends),
            last_engagement_end=max((e for e in subject_ends if e is not None), default=None),
            objection_on=subject.marketing_blocked_on,
            consent_withdrawn_on=withdrawn[sid],
            erasure_on=subject.erasure_requested_on,
        )
    return facts
