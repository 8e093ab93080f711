"""Errors of the ingest layer.

Tree::

    models.errors.GallraError
    +-- IngestError              a source could not be read
        +-- MailboxUnavailable   the server is unreachable, dropped us or failed a command:
        |                        worth retrying on a fresh connection
        +-- Refused              retrying cannot help (never retried)
        |   +-- LoginRefused        the credentials were refused
        |   +-- CertificateRefused  the TLS certificate did not verify
        +-- ArchiveUnreadable    an mbox/Maildir/.eml path is missing or unreadable

The two mailbox errors are siblings: a caller that retries catches
MailboxUnavailable and a refusal passes it by, with no except to put first.
Every error of the IMAP library and the socket becomes one of them at the
boundary (ingest.imap); `kind` keeps the underlying error's type name.
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
    """The server is unreachable, dropped the connection or failed a command (retryable)."""

    def __init__(self, message: str, *, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind or type(self).__name__  # the underlying error's type, for reports


class Refused(IngestError):
    """A refusal that retrying cannot fix; never retried."""


class LoginRefused(Refused):
    """The server refused the credentials."""


class CertificateRefused(Refused):
    """The server's TLS certificate did not verify."""


class ArchiveUnreadable(IngestError):
    """A mail archive path is missing or unreadable."""
