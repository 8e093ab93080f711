"""Deleting the originals at a mail source (an IMAP server) when the sweep deletes an item.

Only for sources configured with `enforce_retention`. A server message is
deleted only when its bytes hash to the item's sha256, so a reused
Message-ID can never cost another message its copy. Each deletion is
verified by looking again; what is still there is reported as a failure,
which the sweep retries next night.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from ingest.errors import MailboxUnavailable
from ingest.mailsource import MailSource
from storage.source_copies import SourceCopy

__all__ = ["ImapEraser"]


class ImapEraser:
    """A SourceEraser for one IMAP source."""

    def __init__(self, connect: Callable[[], MailSource]) -> None:
        self._connect = connect

    def _candidates(self, mailbox: MailSource, folder: str, copy: SourceCopy) -> list[int]:
        uids: set[int] = set()
        if copy.message_id and not copy.message_id.startswith("<sha256:"):
            uids |= set(mailbox.find_by_message_id(folder, copy.message_id))
        recorded_folder = copy.source.partition("/")[2]
        validity, _, uid = copy.source_ref.partition(":")
        same_folder = folder == recorded_folder and uid.isdigit()
        if same_folder and mailbox.select(folder) == int(validity or 0):
            uids.add(int(uid))
        if not uids:
            return []
        mailbox.select(folder)
        return [
            message.uid
            for message in mailbox.fetch(sorted(uids))
            if hashlib.sha256(message.data).hexdigest() == copy.sha256
        ]

    def erase(self, copies: Sequence[SourceCopy]) -> dict[int, str]:
        """Delete every copy whose bytes match, in every folder; verify by looking again."""
        failures: dict[int, str] = {}
        mailbox = self._connect()
        try:
            mailbox.connect()
            folders = mailbox.folders()
            for copy in copies:
                for folder in folders:
                    matching = self._candidates(mailbox, folder, copy)
                    if not matching:
                        continue
                    mailbox.delete(folder, matching)
                    if self._candidates(mailbox, folder, copy):
                        failures[copy.item_id] = "still on the server after delete"
        except MailboxUnavailable:
            for copy in copies:
                failures.setdefault(copy.item_id, "server unavailable (MailboxUnavailable)")
        finally:
            mailbox.close()
        return failures
