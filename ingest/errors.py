"""Errors of the ingest layer.

Tree::

    models.errors.GallraError
    +-- IngestError              a source could not be read
        +-- MailboxUnavailable   the IMAP server is unreachable or dropped us
        |   +-- LoginRefused     the credentials were refused (never retried)
        +-- ArchiveUnreadable    an mbox/Maildir/.eml path is missing or unreadable

A message that cannot be parsed is not an error: it is stored and flagged.
Messages name the source and folder, never an address or a subject line.
"""

from __future__ import annotations

from models.errors import GallraError

__all__ = ["ArchiveUnreadable", "IngestError", "LoginRefused", "MailboxUnavailable"]


class IngestError(GallraError):
    """A source could not be read."""


class MailboxUnavailable(IngestError):
    """The IMAP server refused the login, the folder, or dropped the connection."""


class LoginRefused(MailboxUnavailable):
    """The server refused the credentials (not retried)."""


class ArchiveUnreadable(IngestError):
    """A mail archive path is missing or unreadable."""
