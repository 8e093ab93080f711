"""Rectification (GDPR art. 16) in the registry: correct or complete a person's data.

The caller records the change as a closed request naming the fields changed,
never their values (gallra.coach.rectify).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlmodel import Session, select

from models.enums import IdentifierKind
from models.errors import InvalidInput
from models.identifiers import normalise_email
from models.tables import Identifier, Subject
from models.types import utcnow
from storage.registry import NewIdentifier, add_identifier

__all__ = ["correct_subject"]


def correct_subject(
    session: Session,
    *,
    subject_id: int,
    name: str | None,
    add_emails: Sequence[str],
    remove_emails: Sequence[str],
    add_phones: Sequence[str],
    personnummer: str | None,
    today: date,
    hash_key: bytes,
) -> list[str]:
    """Apply a rectification to the registry; the names of the fields changed, in order."""
    from models.personnummer import parse_personnummer

    subject = session.get(Subject, subject_id)
    if subject is None:
        raise InvalidInput(f"subject {subject_id}: no such subject")
    changed: list[str] = []
    if name is not None and name.strip():
        subject.display_name = name.strip()
        subject.updated_at = utcnow()
        session.add(subject)
        changed.append("name")
    for address in add_emails:
        add_identifier(session, subject_id=subject_id, identifier=NewIdentifier.email(address))
        changed.append("email added")
    for address in remove_emails:
        for ident in _identifiers(
            session, subject_id, IdentifierKind.EMAIL, normalise_email(address)
        ):
            session.delete(ident)
            changed.append("email removed")
    for phone in add_phones:
        add_identifier(session, subject_id=subject_id, identifier=NewIdentifier.phone(phone))
        changed.append("phone added")
    if personnummer is not None:
        number = parse_personnummer(personnummer, today=today)
        for ident in _identifiers(session, subject_id, IdentifierKind.PERSONNUMMER):
            session.delete(ident)
        session.flush()
        add_identifier(
            session,
            subject_id=subject_id,
            identifier=NewIdentifier.personnummer(number, hash_key=hash_key),
        )
        changed.append("personnummer set")
    session.flush()
    return changed


def _identifiers(
    session: Session, subject_id: int, kind: IdentifierKind, value: str | None = None
) -> list[Identifier]:
    query = select(Identifier).where(
        Identifier.subject_id == subject_id, Identifier.kind == kind.value
    )
    if value is not None:
        query = query.where(Identifier.value == value)
    return list(session.exec(query))
