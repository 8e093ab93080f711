"""What the sync needs of a mailbox: the MailSource protocol, and what it hands back.

`ingest.imap.ImapMailbox` is the real one (imapclient, a server); the
in-memory twin `ingest.memory.MemoryMailbox` serves the fast tests. Every
method raises only MailboxUnavailable (retry on a fresh connection) or a
Refused (never retry); nothing of the IMAP library or the socket leaks past.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["UIDS_PER_COMMAND", "FetchedMessage", "MailSource", "per_command"]

# UIDs in one command: servers cap a command's length (Dovecot: 64 kB, ~12,000 UIDs, then
# "BAD Too long argument"), and a first sync or an ingest delay can ask about every message.
UIDS_PER_COMMAND = 1000


def per_command(uids: Iterable[int]) -> Iterator[list[int]]:
    """`uids` in runs of at most UIDS_PER_COMMAND, in order."""
    wanted = list(uids)
    for start in range(0, len(wanted), UIDS_PER_COMMAND):
        yield wanted[start : start + UIDS_PER_COMMAND]


@dataclass(frozen=True)
class FetchedMessage:
    """A message's raw bytes and the server's receipt time."""

    uid: int
    data: bytes
    internal_date: datetime | None


class MailSource(Protocol):
    """A mailbox with folders of messages numbered by UID within a UIDVALIDITY."""

    @property
    def name(self) -> str:
        """The source's label (never an address)."""
        ...

    def connect(self) -> None:
        """Connect and log in (again, after `close`)."""
        ...

    def close(self) -> None:
        """Log out; a connection already gone is no error."""
        ...

    def folders(self) -> list[str]:
        """The folders to sync: the configured ones, else INBOX and the \\Sent folder."""
        ...

    def select(self, folder: str, *, write: bool = False) -> int:
        """Select a folder (read-only unless `write`); its UIDVALIDITY."""
        ...

    def reopen(self, folder: str) -> None:
        """A fresh connection with `folder` selected; unavailable if its UIDVALIDITY changed."""
        ...

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above `last_uid` in the selected folder, ascending."""
        ...

    def internal_dates(self, uids: Sequence[int]) -> dict[int, datetime | None]:
        """The server's receipt time per UID."""
        ...

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """Each UID's size in bytes as the server tells it."""
        ...

    def message_ids(self, uids: Sequence[int]) -> dict[int, str | None]:
        """Each UID's Message-ID header."""
        ...

    def fetch(self, uids: Sequence[int]) -> list[FetchedMessage]:
        """Whole messages, never marking them seen, in UID order."""
        ...

    def move(self, folder: str, uids: Iterable[int], target: str) -> None:
        """Move messages to another folder."""
        ...

    def delete(self, folder: str, uids: Iterable[int]) -> None:
        """Delete and expunge exactly these UIDs."""
        ...

    def find_by_message_id(self, folder: str, message_id: str) -> list[int]:
        """UIDs in `folder` whose Message-ID header is `message_id`."""
        ...
