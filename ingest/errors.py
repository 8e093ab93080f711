"""Errors of the ingest layer.

Tree::

    models.errors.GallraError
    +-- IngestError              a source could not be read
        +-- MailboxUnavailable   the IMAP server is unreachable or dropped us
        |   +-- Refused          retrying cannot help (never retried)
        |       +-- LoginRefused        the credentials were refused
        |       +-- CertificateRefused  the TLS certificate did not verify
        +-- ArchiveUnreadable    an mbox/Maildir/.eml path is missing or unreadable

A message that cannot be parsed is not an error: it is stored and flagged.
Messages name the source and folder, never an address or a subject line.
"""

from __future__ import annotations

from models.errors import GallraError

__all__ = [
    "ArchiveUnreadable",
    "CertificateRefused",
    "IngestError",
    "LoginRefused",
    "MailboxUnavailable",
    "Refused",
]


class IngestError(GallraError):
    """A source could not be read."""


class MailboxUnavailable(IngestError):
    """The IMAP server refused the login, the folder, or dropped the connection."""


class Refused(MailboxUnavailable):
    """A refusal that retrying cannot fix; never retried."""


class LoginRefused(Refused):
    """The server refused the credentials."""


class CertificateRefused(Refused):
    """The server's TLS certificate did not verify."""


class ArchiveUnreadable(IngestError):
    """A mail archive path is missing or unreadable."""
