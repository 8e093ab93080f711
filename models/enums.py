"""Closed vocabularies of the data model.

Purposes are not here: they are named by the policy file, which also says
which legal bases each purpose may rest on.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "HoldKind",
    "IdentifierKind",
    "ItemKind",
    "ItemState",
    "LegalBasis",
    "ParseStatus",
    "RequestRight",
    "RequestStatus",
    "Role",
    "SubjectStatus",
]


class Role(StrEnum):
    """A role a person holds towards the practice (POLICY.md, 'Whose data')."""

    CLIENT = "client"
    PROSPECT = "prospect"
    PAYER = "payer"
    GUARDIAN = "guardian"
    TRUSTEE = "trustee"
    ATTORNEY = "attorney"
    COMPANY_CONTACT = "company_contact"


class SubjectStatus(StrEnum):
    """What the retention rules need to know about a subject.

    A client is anyone party to an engagement (the client, or a payer or
    contact acting for it); a prospect never was; `unassigned` is an item
    tied to nobody yet.
    """

    CLIENT = "client"
    PROSPECT = "prospect"
    UNASSIGNED = "unassigned"


class LegalBasis(StrEnum):
    """GDPR art. 6(1) bases this practice uses."""

    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    LEGITIMATE_INTEREST = "legitimate_interest"
    CONSENT = "consent"


class IdentifierKind(StrEnum):
    """Kinds of identifiers that tie data to a subject."""

    EMAIL = "email"
    PHONE = "phone"
    PERSONNUMMER = "personnummer"
    ONLINE = "online"  # IP address, cookie id: not ingested, but representable


class ItemKind(StrEnum):
    """What an item is."""

    EMAIL = "email"
    ATTACHMENT = "attachment"
    RECORDING = "recording"
    EXPORT = "export"
    DOCUMENT = "document"


class ItemState(StrEnum):
    """Lifecycle of an item row. `deleting` is set before any copy is touched."""

    LIVE = "live"
    DELETING = "deleting"


class ParseStatus(StrEnum):
    """Outcome of parsing an item's stored bytes."""

    PENDING = "pending"  # bytes stored, not parsed yet (a crash here is finished next run)
    OK = "ok"
    WARNING = "warning"  # parsed, but some header or part was unreadable (listed by doctor)
    ERROR = "error"  # the MIME structure could not be read; headers only
    SKIPPED = "skipped"  # bulk mail: kept unassigned under the 3-month rule, nobody tagged
    QUARANTINED = "quarantined"


class HoldKind(StrEnum):
    """What freezes an item (POLICY.md rule 8)."""

    LEGAL_HOLD = "legal_hold"
    RESTRICTION = "restriction"
    REQUEST = "request"


class RequestRight(StrEnum):
    """The data-subject rights gallra serves."""

    ACCESS = "access"
    ERASURE = "erasure"
    RECTIFICATION = "rectification"
    RESTRICTION = "restriction"
    OBJECTION = "objection"
    PORTABILITY = "portability"
    CONSENT_WITHDRAWAL = "consent-withdrawal"


class RequestStatus(StrEnum):
    """Where a data-subject request stands."""

    OPEN = "open"
    DONE = "done"
    REFUSED = "refused"
