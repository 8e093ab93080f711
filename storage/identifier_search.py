"""Finding items by who they are about: an e-mail address, a domain or a phone number.

Typed into the search box among other words, `karin@exempel.se`,
`@exempel.se`, `+46 70 123 45 67` or `070-123 45 67` become the people who
hold that identifier (a phone number normalised as the registry stores it);
the other words are searched as text within their items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import Connection, and_, or_, select
from sqlmodel import Session, col

from models.enums import IdentifierKind
from models.errors import InvalidInput
from models.identifiers import normalise_email, normalise_phone
from models.tables import Identifier

__all__ = ["IdentifierTerms", "split_identifiers", "subjects_holding"]

_EMAIL = re.compile(r"(?<![\w.+'-])[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_DOMAIN = re.compile(r"(?<![\w.+'-])@([\w-]+(?:\.[\w-]+)+)")
_PHONE = re.compile(r"(?<![\w+])(?:\+|0)\d[\d \-]{3,}\d(?!\w)")  # +46..., 07..., 0046...


@dataclass(frozen=True)
class IdentifierTerms:
    """The identifiers found in a query, and the words left over."""

    emails: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    rest: str = ""

    @property
    def any(self) -> bool:
        """Whether the query named anyone by an identifier."""
        return bool(self.emails or self.domains or self.phones)


def split_identifiers(query: str) -> IdentifierTerms:
    """Take the addresses, domains and phone numbers out of `query`."""
    emails = [normalise_email(m) for m in _EMAIL.findall(query)]
    rest = _EMAIL.sub(" ", query)
    domains = [d.casefold() for d in _DOMAIN.findall(rest)]
    rest = _DOMAIN.sub(" ", rest)
    phones = []
    for found in _PHONE.findall(rest):
        if sum(c.isdigit() for c in found) < 6:
            continue
        try:
            phones.append(normalise_phone(found))
        except InvalidInput:
            continue
        rest = rest.replace(found, " ", 1)
    return IdentifierTerms(emails, domains, phones, " ".join(rest.split()))


def subjects_holding(db: Session | Connection, terms: IdentifierTerms) -> list[int]:
    """The people holding any of these identifiers (a domain: any address at it)."""
    value, kind = col(Identifier.value), col(Identifier.kind)
    email = kind == IdentifierKind.EMAIL.value
    wanted = []
    if terms.emails:
        wanted.append(and_(email, value.in_(terms.emails)))
    wanted += [and_(email, value.endswith(f"@{d}", autoescape=True)) for d in terms.domains]
    if terms.phones:
        wanted.append(and_(kind == IdentifierKind.PHONE.value, value.in_(terms.phones)))
    if not wanted:
        return []
    query = select(col(Identifier.subject_id)).where(or_(*wanted)).distinct()
    return sorted(int(i) for i in db.execute(query).scalars())
