"""The practice's own addresses: never a person, even when set after mail was indexed.

Mail taken in before an address was listed as the practice's own tied it to a
"person" made from it (the coach herself, as a prospect on every mail). Once
the address is listed, `retag_own` cuts those header links, restamps the
items' dates, and deletes the person (a ledger entry naming the id) when
nothing but the address made them. `set_own_addresses` writes the list into gallra.toml.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, delete, select

from gallra.errors import ConfigError
from gallra.wiring import App
from models.enums import IdentifierKind, Role
from models.identifiers import normalise_email
from models.tables import (
    Consent,
    Engagement,
    EngagementParty,
    Hold,
    Identifier,
    ItemSubject,
    Request,
    Subject,
)
from storage.expiry import recompute
from storage.subject_sweep import delete_subject

__all__ = ["Retagged", "retag_own", "set_own_addresses"]

HEADER_ROLES = ("from", "to", "cc", "reply-to")


@dataclass(frozen=True)
class Retagged:
    """How many people made from own addresses lost how many header links."""

    subjects: int
    links_removed: int
    items_restamped: int
    people_deleted: int = 0


def retag_own(gallra: App, extra: tuple[str, ...] = ()) -> Retagged:
    """Untie every item from the people made from the practice's own addresses (and `extra`)."""
    own = {a.strip().lower() for a in (*gallra.settings.mail.own_addresses, *extra) if a.strip()}
    if not own:
        return Retagged(0, 0, 0)
    with gallra.session() as session:
        people = sorted(
            set(
                session.exec(
                    select(Identifier.subject_id).where(
                        Identifier.kind == IdentifierKind.EMAIL.value,
                        col(Identifier.value).in_(sorted(own)),
                    )
                )
            )
        )
        if not people:
            return Retagged(0, 0, 0)
        links = list(
            session.exec(
                select(ItemSubject).where(
                    col(ItemSubject.subject_id).in_(people),
                    col(ItemSubject.role).in_(HEADER_ROLES),
                )
            )
        )
        items = sorted({link.item_id for link in links})
        session.execute(
            delete(ItemSubject).where(
                col(ItemSubject.subject_id).in_(people), col(ItemSubject.role).in_(HEADER_ROLES)
            )
        )
        session.flush()
        changed = recompute(session, gallra.policy, item_ids=items) if items else []
        gone = [p for p in people if _only_an_address(session, p)]
        for subject_id in gone:
            subject = session.get(Subject, subject_id)
            assert subject is not None
            delete_subject(
                session, subject, gallra.clock.now(), gallra.hash_key, reason="own address"
            )
    return Retagged(len(people), len(links), len(changed), len(gone))


def _only_an_address(session: Session, subject_id: int) -> bool:
    """Whether nothing but the address made this person: a prospect with nothing left."""
    subject = session.get(Subject, subject_id)
    if subject is None or subject.role_list != [Role.PROSPECT.value]:
        return False
    for table, column in (
        (ItemSubject, ItemSubject.subject_id),
        (Hold, Hold.subject_id),
        (Request, Request.subject_id),
        (EngagementParty, EngagementParty.subject_id),
        (Engagement, Engagement.client_id),
        (Consent, Consent.subject_id),
    ):
        if session.exec(select(table).where(column == subject_id).limit(1)).first():
            return False
    return True


_OWN_LINE = re.compile(r"^\s*own_addresses\s*=.*$", re.M)
_MAIL_TABLE = re.compile(r"^\[mail\]\s*$", re.M)


def set_own_addresses(toml: Path, addresses: list[str]) -> list[str]:
    """Add `addresses` to `own_addresses` in the settings file's [mail] table; all of them."""
    text = toml.read_text(encoding="utf-8") if toml.exists() else ""
    try:
        current = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{toml}: not valid TOML ({exc})") from None
    before = current.get("mail", {}).get("own_addresses", [])
    checked = sorted({normalise_email(a) for a in (*before, *addresses)})
    line = "own_addresses = [" + ", ".join(f'"{a}"' for a in checked) + "]"
    if "own_addresses" in current.get("mail", {}):
        updated, count = _OWN_LINE.subn(line, text, count=1)
        if count != 1 or tomllib.loads(updated).get("mail", {}).get("own_addresses") != checked:
            raise ConfigError(f"{toml}: set mail.own_addresses by hand (it spans lines)")
    elif _MAIL_TABLE.search(text):
        updated = _MAIL_TABLE.sub(lambda m: f"{m.group(0)}\n{line}", text, count=1)
    else:
        updated = text.rstrip("\n") + f"\n\n[mail]\n{line}\n"
    try:
        written = tomllib.loads(updated).get("mail", {}).get("own_addresses")
    except tomllib.TOMLDecodeError:
        written = None
    if written != checked:
        raise ConfigError(f"{toml}: set mail.own_addresses by hand (its [mail] table is unusual)")
    toml.write_text(updated, encoding="utf-8")
    return checked
