"""An in-memory mailbox: the MailSource twin the fast tests sync against.

It behaves as the sync needs an IMAP server to: folders of messages with
UIDs that only grow, a UIDVALIDITY per folder, INBOX and a Sent folder by
default, reads that never mark anything seen. What a real server does to a
client can be injected: a UIDVALIDITY change (`renumber`), a connection that
drops on the next FETCHes (`drop_next_fetches`), a message it will not
deliver (`undeliverable`), a login it refuses (`refuse_login`), a server that
is down (`down`).
"""

from __future__ import annotations

import email.parser
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count

from ingest.errors import LoginRefused, MailboxUnavailable
from ingest.mailsource import FetchedMessage

__all__ = ["MemoryMailbox"]

_VALIDITY = count(1000)


@dataclass
class _Folder:
    uidvalidity: int = field(default_factory=lambda: next(_VALIDITY))
    next_uid: int = 1
    messages: dict[int, tuple[bytes, datetime]] = field(default_factory=dict)


class MemoryMailbox:
    """A mailbox held in memory; one object is the server, each `connect` a new session."""

    def __init__(self, name: str = "memory", *, folders: Sequence[str] = ()) -> None:
        self._name = name
        self.configured = list(folders)
        self.boxes: dict[str, _Folder] = {"INBOX": _Folder(), "Sent": _Folder()}
        self.connected = False
        self.connects = 0
        self.selected: str | None = None
        self._validity = 0  # of the selected folder, when it was selected
        self.refuse_login = False
        self.down = False  # every connect fails, as against a stopped server
        self.drop_next_fetches = 0
        self.undeliverable: set[tuple[str, int]] = set()

    # -- what a test does to the server --------------------------------------------------

    def add(self, folder: str, data: bytes, when: datetime | None = None) -> int:
        """Deliver a message; its UID."""
        box = self.boxes.setdefault(folder, _Folder())
        uid = box.next_uid
        box.next_uid += 1
        box.messages[uid] = (data, when or datetime.now(UTC))
        return uid

    def renumber(self, folder: str) -> None:
        """The folder is recreated: a new UIDVALIDITY, the same messages numbered anew."""
        old = self.boxes[folder]
        fresh = _Folder()
        for data, when in old.messages.values():
            fresh.messages[fresh.next_uid] = (data, when)
            fresh.next_uid += 1
        self.boxes[folder] = fresh

    def count(self, folder: str) -> int:
        """How many messages a folder holds."""
        return len(self.boxes[folder].messages)

    # -- the MailSource protocol ---------------------------------------------------------

    @property
    def name(self) -> str:
        """The source's label."""
        return self._name

    def connect(self) -> None:
        """A new session; LoginRefused when told to refuse."""
        self.connects += 1
        if self.down:
            raise MailboxUnavailable(f"mail source {self._name}: cannot connect", kind="OSError")
        if self.refuse_login:
            raise LoginRefused(f"mail source {self._name}: login refused")
        self.connected, self.selected = True, None

    def close(self) -> None:
        """End the session."""
        self.connected, self.selected = False, None

    def _box(self) -> _Folder:
        if not self.connected or self.selected is None:
            raise MailboxUnavailable(f"mail source {self._name}: not connected", kind="abort")
        return self.boxes[self.selected]

    def folders(self) -> list[str]:
        """The configured folders, else INBOX and Sent."""
        return list(self.configured) or ["INBOX", "Sent"]

    def select(self, folder: str, *, write: bool = False) -> int:
        """Select a folder; its UIDVALIDITY."""
        if not self.connected:
            raise MailboxUnavailable(f"mail source {self._name}: not connected", kind="abort")
        self.selected = folder
        self._validity = self.boxes.setdefault(folder, _Folder()).uidvalidity
        return self._validity

    def reopen(self, folder: str) -> None:
        """A fresh session with `folder` selected; unavailable if it was renumbered meanwhile."""
        expected = self._validity if self.selected == folder else None
        self.close()
        self.connect()
        if expected is not None and self.select(folder) != expected:
            raise MailboxUnavailable(f"mail source {self._name}: folder changed on reopen")
        self.select(folder)

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above `last_uid`, ascending."""
        return sorted(uid for uid in self._box().messages if uid > last_uid)

    def internal_dates(self, uids: Sequence[int]) -> dict[int, datetime | None]:
        """Receipt times."""
        box = self._box()
        return {uid: box.messages[uid][1] for uid in uids if uid in box.messages}

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """Sizes in bytes."""
        box = self._box()
        return {uid: len(box.messages[uid][0]) for uid in uids if uid in box.messages}

    def message_ids(self, uids: Sequence[int]) -> dict[int, str | None]:
        """Message-ID headers."""
        box = self._box()
        parser = email.parser.BytesHeaderParser()
        return {
            uid: parser.parsebytes(box.messages[uid][0]).get("Message-ID")
            for uid in uids
            if uid in box.messages
        }

    def fetch(self, uids: Sequence[int]) -> list[FetchedMessage]:
        """Whole messages in UID order; fails as told (a dropped session, an undeliverable)."""
        box = self._box()
        if self.drop_next_fetches:
            self.drop_next_fetches -= 1
            self.close()
            raise MailboxUnavailable(f"mail source {self._name}: FETCH failed", kind="abort")
        if any((self.selected, uid) in self.undeliverable for uid in uids):
            raise MailboxUnavailable(
                f"mail source {self._name}: FETCH failed", kind="IMAPClientError"
            )
        return [
            FetchedMessage(uid, *box.messages[uid]) for uid in sorted(uids) if uid in box.messages
        ]

    def move(self, folder: str, uids: Iterable[int], target: str) -> None:
        """Move messages to another folder (new UIDs there)."""
        box = self.boxes[folder]
        for uid in list(uids):
            if uid in box.messages:
                data, when = box.messages.pop(uid)
                self.add(target, data, when)

    def delete(self, folder: str, uids: Iterable[int]) -> None:
        """Delete and expunge exactly these UIDs."""
        box = self.boxes[folder]
        for uid in list(uids):
            box.messages.pop(uid, None)

    def find_by_message_id(self, folder: str, message_id: str) -> list[int]:
        """UIDs in `folder` with this Message-ID."""
        self.select(folder)
        found = self.message_ids(sorted(self.boxes[folder].messages))
        return sorted(uid for uid, value in found.items() if value == message_id)
