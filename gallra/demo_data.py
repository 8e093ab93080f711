"""The bundled demo practice: invented people, their agreements, e-mails and recordings."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from sqlmodel import Session

from models.enums import Role
from models.personnummer import parse_personnummer
from storage.registry import (
    NewIdentifier,
    add_party,
    add_subject,
    end_engagement,
    find_subject_by_email,
    start_engagement,
)

__all__ = ["DemoLoad", "demo_dir", "load_demo_facts"]


def demo_dir() -> Path:
    """Folder of the shipped demo data."""
    return Path(str(resources.files("gallra") / "demo"))


@dataclass(frozen=True)
class DemoLoad:
    """What loading the demo facts did."""

    subjects_added: int
    subjects_present: int


def load_demo_facts(session: Session, *, hash_key: bytes, today: date) -> DemoLoad:
    """Register the demo people and agreements; idempotent (skips people already there)."""
    spec: dict[str, Any] = tomllib.loads((demo_dir() / "facts.toml").read_text(encoding="utf-8"))
    ids: dict[str, int] = {}
    engagement_of: dict[str, int] = {}
    added = 0
    for person in spec["subjects"]:
        existing = find_subject_by_email(session, address=person["emails"][0])
        if existing is not None and existing.id is not None:
            ids[person["key"]] = existing.id
            continue
        identifiers = [NewIdentifier.email(address) for address in person["emails"]]
        if "personnummer" in person:
            number = parse_personnummer(person["personnummer"], today=today)
            identifiers.append(NewIdentifier.personnummer(number, hash_key=hash_key))
        roles = [r for r in person["roles"] if r != Role.CLIENT] or [Role.PROSPECT]
        subject = add_subject(
            session, display_name=person["name"], roles=roles, identifiers=identifiers
        )
        assert subject.id is not None
        ids[person["key"]] = subject.id
        added += 1
        for agreement in person.get("engagements", []):
            engagement = start_engagement(
                session, client_id=subject.id, starts_on=date.fromisoformat(agreement["starts_on"])
            )
            assert engagement.id is not None
            engagement_of[person["key"]] = engagement.id
            if "ends_on" in agreement:
                end_engagement(
                    session,
                    engagement_id=engagement.id,
                    ends_on=date.fromisoformat(agreement["ends_on"]),
                )
        if "pays_for" in person and person["pays_for"] in engagement_of:
            add_party(
                session,
                engagement_id=engagement_of[person["pays_for"]],
                subject_id=subject.id,
                role=Role.PAYER,
            )
    return DemoLoad(subjects_added=added, subjects_present=len(ids) - added)
