"""The index: SQLModel tables (see DESIGN.md, 'The data model').

Enumerated columns are stored as their string values (see models.enums) so
migrations stay plain on SQLite and PostgreSQL. Every timestamp is aware UTC;
retention dates are Stockholm calendar dates turned into the UTC instant
the day begins.

Over 300 lines because every table of the index is here, so the schema reads
in one place.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow

__all__ = [
    "AuditEvent",
    "Consent",
    "Engagement",
    "EngagementParty",
    "Hold",
    "Identifier",
    "Item",
    "ItemSource",
    "ItemSubject",
    "ItemText",
    "JobLock",
    "LedgerEntry",
    "LoginThrottle",
    "MarketingBlock",
    "NightlyRun",
    "Request",
    "RunStep",
    "Subject",
    "SweepReport",
    "SyncState",
    "WebSession",
    "WebUser",
]


def _now_field() -> datetime:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)  # type: ignore[no-any-return]


class Subject(SQLModel, table=True):
    """A living person the practice holds data about."""

    id: int | None = Field(default=None, primary_key=True)
    display_name: str
    roles: str = ""  # comma-separated models.enums.Role values, sorted
    marketing_blocked_on: date | None = None
    erasure_requested_on: date | None = None
    created_at: datetime = _now_field()
    updated_at: datetime = _now_field()

    @property
    def role_list(self) -> list[str]:
        """Roles as a list."""
        return [role for role in self.roles.split(",") if role]


class Identifier(SQLModel, table=True):
    """An e-mail address, phone number, keyed personnummer hash or online id."""

    __table_args__ = (UniqueConstraint("kind", "value", name="uq_identifier_kind_value"),)

    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(foreign_key="subject.id", ondelete="CASCADE", index=True)
    kind: str
    value: str  # normalised: lower-case address, digits-only phone, HMAC for personnummer
    masked: str  # what a screen may show
    created_at: datetime = _now_field()


class Engagement(SQLModel, table=True):
    """A coaching agreement: running while `ends_on` is None."""

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="subject.id", ondelete="RESTRICT", index=True)
    starts_on: date
    ends_on: date | None = None
    created_at: datetime = _now_field()


class EngagementParty(SQLModel, table=True):
    """A payer, guardian or contact acting for an engagement."""

    engagement_id: int = Field(foreign_key="engagement.id", ondelete="CASCADE", primary_key=True)
    subject_id: int = Field(foreign_key="subject.id", ondelete="CASCADE", primary_key=True)
    role: str


class Item(SQLModel, table=True):
    """One stored thing: an e-mail, an attachment, a recording, an export."""

    __table_args__ = (
        Index("ix_item_state_expires", "state", "expires_at"),
        Index("ix_item_state_received", "state", "received_at"),
        Index("ix_item_source_ref", "source", "source_ref"),
        # One e-mail per content, whatever runs at once: a second insert of the same
        # message is a conflict the ingest reads as "already stored" (migration 0007).
        Index(
            "uq_item_email_sha256",
            "sha256",
            unique=True,
            sqlite_where=text("kind = 'email'"),
            postgresql_where=text("kind = 'email'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str
    parent_id: int | None = Field(
        default=None, foreign_key="item.id", ondelete="SET NULL", index=True
    )
    source: str
    source_ref: str = ""
    message_id: str | None = Field(default=None, index=True)
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    size: int
    sha256: str = Field(index=True)
    mime_type: str = "application/octet-stream"
    blob_key: str = Field(index=True)
    parse_status: str = "pending"
    parse_error: str | None = None
    title: str = ""
    duration_seconds: float | None = None  # recordings
    media_info: str = ""  # recordings: container and codec, e.g. "mp3/mp3"
    purpose: str
    legal_basis: str
    special_category: bool = False
    provided_by_subject: bool = False
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rule_id: str = ""
    policy_version: str = ""
    state: str = "live"
    created_at: datetime = _now_field()


class ItemSource(SQLModel, table=True):
    """A place an e-mail was seen at: a mailbox folder and UID, an archive and its entry.

    One message CC'd to two configured mailboxes is one item with two
    positions; the sweep deletes and verifies the server copy at each of them
    (sources with `enforce_retention`). Deleted with the item.
    """

    __table_args__ = (UniqueConstraint("source", "source_ref", name="uq_itemsource_position"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", ondelete="CASCADE", index=True)
    source: str  # e.g. "imap:practice/INBOX"; never an address
    source_ref: str  # "uidvalidity:uid", a file name, an mbox index
    seen_at: datetime = _now_field()


class ItemText(SQLModel, table=True):
    """Extracted text for search; deleted with the item."""

    item_id: int = Field(foreign_key="item.id", ondelete="CASCADE", primary_key=True)
    body: str = Field(sa_column=Column(Text, nullable=False))


class ItemSubject(SQLModel, table=True):
    """Ties an item to a subject, with why (which address, which rule)."""

    item_id: int = Field(foreign_key="item.id", ondelete="CASCADE", primary_key=True)
    subject_id: int = Field(foreign_key="subject.id", ondelete="CASCADE", primary_key=True)
    role: str = ""  # from, to, cc, reply-to, sidecar, assigned...
    reason: str = ""


class Consent(SQLModel, table=True):
    """A consent for one purpose; withdrawal ends what rested on it alone."""

    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(foreign_key="subject.id", ondelete="CASCADE", index=True)
    purpose: str
    given_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Hold(SQLModel, table=True):
    """A legal hold, restriction or open request freezing a subject's or an item's data."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str
    subject_id: int | None = Field(
        default=None, foreign_key="subject.id", ondelete="CASCADE", index=True
    )
    item_id: int | None = Field(default=None, foreign_key="item.id", ondelete="CASCADE", index=True)
    request_id: int | None = Field(default=None, foreign_key="request.id", ondelete="SET NULL")
    reason: str
    review_on: date | None = None
    created_at: datetime = _now_field()
    lifted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Request(SQLModel, table=True):
    """A data-subject request; outlives the subject (no personal data in it)."""

    id: int | None = Field(default=None, primary_key=True)
    subject_id: int | None = Field(
        default=None, foreign_key="subject.id", ondelete="SET NULL", index=True
    )
    right: str
    received_on: date
    deadline: date
    extension_reason: str | None = None
    status: str = "open"
    outcome: str = ""
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SyncState(SQLModel, table=True):
    """Where incremental mail sync stands per source and folder."""

    __table_args__ = (UniqueConstraint("source", "folder", name="uq_syncstate_source_folder"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str
    folder: str
    uidvalidity: int
    last_uid: int = 0
    updated_at: datetime = _now_field()


class UnfetchedMessage(SQLModel, table=True):
    """A message the server would not deliver (a FETCH of it alone failed on a working
    connection). The sync goes on past it, tries it again every run and forgets it once
    fetched or gone from the server; `gallra doctor` lists it. Never personal data."""

    __table_args__ = (
        UniqueConstraint("source", "folder", "uidvalidity", "uid", name="uq_unfetched_position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str
    folder: str
    uidvalidity: int
    uid: int
    reason: str  # the error's type, never the server's words
    attempts: int = 1
    first_failed_at: datetime = _now_field()
    last_failed_at: datetime = _now_field()


class LedgerEntry(SQLModel, table=True):
    """Append-only, hash-chained record of a deletion; no personal data."""

    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    action: str
    item_id: int | None = None
    item_kind: str = ""
    sha256: str = Field(default="", index=True)
    size: int = 0
    rule_id: str = ""
    policy_version: str = ""
    detail: str = ""  # JSON: what was verified, counts; never names or addresses
    prev_hash: str
    entry_hash: str = Field(unique=True)


class JobLock(SQLModel, table=True):
    """Who holds a job lock on SQLite (storage.locks), and until when their lease runs.

    `expires_at` is wall-clock seconds (time.time()), never the injectable
    clock: a run `--now 2030-01-01` must not make a live lock look expired.
    """

    name: str = Field(primary_key=True)
    holder: str  # host:pid:nonce, no personal data
    expires_at: float


class MarketingBlock(SQLModel, table=True):
    """A direct-marketing block kept as a keyed hash of the address only."""

    address_hash: str = Field(primary_key=True)
    created_at: datetime = _now_field()


class SweepReport(SQLModel, table=True):
    """Summary of one sweep run; counts and ids only."""

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dry_run: bool = False
    summary: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class WebUser(SQLModel, table=True):
    """Someone who may log in to the web page; the password only as a slow hash."""

    __table_args__ = (UniqueConstraint("username", name="uq_webuser_username"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str
    password_hash: str
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    language: str | None = None  # "sv" or "en"; None: the browser's, else Swedish
    totp_secret: str | None = (
        None  # sealed under a key from the hash key (gallra.web.second_factor)
    )
    totp_last_step: int = 0  # the last 30-second step a code was used for: no replay
    recovery_hashes: str = ""  # JSON list of keyed hashes of unused recovery codes
    created_at: datetime = _now_field()


class LoginThrottle(SQLModel, table=True):
    """Failed logins from one client address for one account (keyed hash of both).

    Failures slow down only that pair: a stranger's guesses never keep the
    coach out from her own browser.
    """

    key: str = Field(primary_key=True)  # HMAC of address and user name
    failures: int = 0
    next_try_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class WebSession(SQLModel, table=True):
    """A logged-in browser: only a hash of its cookie is kept, so a copied index opens none."""

    token_hash: str = Field(primary_key=True)
    user_id: int = Field(foreign_key="webuser.id", ondelete="CASCADE")
    csrf_token: str
    created_at: datetime = _now_field()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class AuditEvent(SQLModel, table=True):
    """Who viewed, searched, downloaded or changed what, and when; never any content."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    actor: str
    action: str
    item_id: int | None = None
    subject_id: int | None = None
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class NightlyRun(SQLModel, table=True):
    """One nightly run: when, and whether every step worked (no personal data)."""

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = "running"  # running, ok, failed


class RunStep(SQLModel, table=True):
    """One step of a nightly run: a mail source, recordings, sweep, backup.

    Counts and the error's type only: a step is named by its source label.
    """

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="nightlyrun.id", ondelete="CASCADE", index=True)
    step: str
    status: str  # ok, failed
    counts: str = "{}"  # JSON: numbers only
    error_type: str = ""
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    finished_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
