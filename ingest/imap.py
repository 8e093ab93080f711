"""The IMAP mailbox: the only module that imports imapclient (a MailSource).

Reads never set \\Seen (FETCH BODY.PEEK[]), always name explicit UID lists
(imapclient drops responses for ids it did not ask for), and select folders
read-only unless a write (move, delete) is asked for. Every error of
imapclient, imaplib and the socket becomes MailboxUnavailable here, in one
place (`_mapped`), naming the source and the error's type only.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imapclient import SENT

from ingest.errors import CertificateRefused, LoginRefused, MailboxUnavailable
from ingest.mailsource import FetchedMessage, per_command

_CERT = "the TLS certificate did not verify (set ca_file for a private CA)"

__all__ = ["ImapConfig", "ImapMailbox"]

# What a dropped connection, a restarted server or a failed command raises below us.
_LIBRARY_ERRORS: tuple[type[BaseException], ...] = (OSError, socket.timeout, IMAPClientError)


@dataclass(frozen=True)
class ImapConfig:
    """How to reach one mailbox (the password or token is passed in, never stored here)."""

    name: str
    host: str
    port: int
    user: str
    secret: str
    security: Literal["tls", "starttls", "none"] = "tls"
    oauth2: bool = False
    folders: tuple[str, ...] = ()
    timeout: float = 60.0
    ca_file: str | None = None  # PEM of a CA to trust instead of the system's

    def tls_context(self) -> ssl.SSLContext:
        """Certificate and host name verified, always; only the trusted CAs can change."""
        return ssl.create_default_context(cafile=self.ca_file)


def _aware(moment: Any) -> datetime | None:
    if not isinstance(moment, datetime):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class ImapMailbox:
    """A logged-in IMAP connection; use as a context manager."""

    def __init__(self, config: ImapConfig) -> None:
        self.config = config
        self._client: IMAPClient | None = None
        self._selected: tuple[str, bool] | None = None
        self._uidvalidity = 0

    @property
    def name(self) -> str:
        """The source's label."""
        return self.config.name

    @contextlib.contextmanager
    def _mapped(self, what: str) -> Iterator[None]:
        """Errors of imapclient, imaplib and the socket as MailboxUnavailable (one mapping)."""
        try:
            yield
        except _LIBRARY_ERRORS as exc:
            kind = type(exc).__name__
            raise MailboxUnavailable(
                f"mail source {self.config.name}: {what} failed ({kind})", kind=kind
            ) from None

    def __enter__(self) -> ImapMailbox:
        self.connect()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def connect(self) -> None:
        """Connect and log in; MailboxUnavailable names the source, not the user."""
        cfg = self.config
        where = f"mail source {cfg.name}"
        try:
            client = IMAPClient(
                cfg.host,
                port=cfg.port,
                ssl=cfg.security == "tls",
                # Loading the CA bundle costs ~40 ms: only when this connection uses it.
                ssl_context=cfg.tls_context() if cfg.security == "tls" else None,
                timeout=cfg.timeout,
            )
        except ssl.SSLCertVerificationError:
            raise CertificateRefused(f"{where}: cannot connect: {_CERT}") from None
        except _LIBRARY_ERRORS as exc:
            kind = type(exc).__name__
            raise MailboxUnavailable(f"{where}: cannot connect ({kind})", kind=kind) from None
        # IMAPClient turns on imaplib's protocol trace (debug 5) and routes it to a logger:
        # every response, whole messages included, is formatted with repr() and handed to
        # logging. That put clients' mail one DEBUG setting away from a log, and cost
        # 60% of the fetch's CPU (0.8 of 1.3 s for the bench mailbox) even when dropped.
        client._imap.debug = 0
        try:
            if cfg.security == "starttls":
                client.starttls(cfg.tls_context())
            client.normalise_times = False
            if cfg.oauth2:
                client.oauth2_login(cfg.user, cfg.secret)
            else:
                client.login(cfg.user, cfg.secret)
        except ssl.SSLCertVerificationError:
            self._shutdown(client)
            raise CertificateRefused(f"{where}: cannot connect: {_CERT}") from None
        except LoginError:
            self._shutdown(client)
            raise LoginRefused(f"{where}: login refused") from None
        except _LIBRARY_ERRORS as exc:
            self._shutdown(client)
            kind = type(exc).__name__
            raise MailboxUnavailable(f"{where}: cannot connect ({kind})", kind=kind) from None
        self._client = client
        self._selected = None

    @staticmethod
    def _shutdown(client: IMAPClient) -> None:
        with contextlib.suppress(OSError, IMAPClientError):
            client.shutdown()

    def close(self) -> None:
        """Log out, ignoring a connection that is already gone."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.logout()
            except (OSError, IMAPClientError):
                self._shutdown(client)  # a dropped connection cannot log out

    @property
    def client(self) -> IMAPClient:
        """The connected client."""
        if self._client is None:
            raise MailboxUnavailable(f"mail source {self.config.name}: not connected")
        return self._client

    def folders(self) -> list[str]:
        """The configured folders, else INBOX and the folder marked \\Sent."""
        if self.config.folders:
            return list(self.config.folders)
        found = ["INBOX"]
        with self._mapped("LIST"):
            sent = self.client.find_special_folder(SENT)
        if sent and sent not in found:
            found.append(sent)
        return found

    def select(self, folder: str, *, write: bool = False) -> int:
        """Select a folder; returns its UIDVALIDITY."""
        with self._mapped("SELECT"):
            response = self.client.select_folder(folder, readonly=not write)
        self._selected = (folder, write)
        self._uidvalidity = int(response[b"UIDVALIDITY"])
        return self._uidvalidity

    def reopen(self, folder: str) -> None:
        """A fresh connection with `folder` selected read-only (after a failed command).

        Raises MailboxUnavailable when the folder's UIDVALIDITY changed meanwhile.
        """
        same = self._selected is not None and self._selected[0] == folder
        expected = self._uidvalidity if same else None
        self.close()
        self.connect()
        uidvalidity = self.select(folder)
        if expected is not None and uidvalidity != expected:
            raise MailboxUnavailable(f"mail source {self.config.name}: folder changed on reopen")

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above `last_uid`, ascending (the '*' quirk filtered out)."""
        with self._mapped("SEARCH"):
            uids = self.client.search(["UID", f"{last_uid + 1}:*"])
        return sorted(int(uid) for uid in uids if int(uid) > last_uid)

    def internal_dates(self, uids: Sequence[int]) -> dict[int, datetime | None]:
        """The server's receipt time per UID."""
        response = self._fetch(uids, ["INTERNALDATE"])
        return {uid: _aware(data.get(b"INTERNALDATE")) for uid, data in response.items()}

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """Each UID's size in bytes as the server reports it (RFC822.SIZE)."""
        found: dict[int, int] = {}
        for uid, data in self._fetch(uids, ["RFC822.SIZE"]).items():
            size = data.get(b"RFC822.SIZE")
            if isinstance(size, int):
                found[uid] = size
        return found

    def message_ids(self, uids: Sequence[int]) -> dict[int, str | None]:
        """Each UID's Message-ID header (for reconciling after a UIDVALIDITY change)."""
        response = self._fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        found: dict[int, str | None] = {}
        for uid, data in response.items():
            raw = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER")), b"")
            text = raw.decode("latin-1") if isinstance(raw, bytes) else ""
            value = text.partition(":")[2].strip()
            found[uid] = value or None
        return found

    def fetch(self, uids: Sequence[int]) -> list[FetchedMessage]:
        """Whole messages without setting \\Seen, in UID order."""
        response = self._fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"])
        messages = []
        for uid in sorted(response):
            data = response[uid]
            body = data.get(b"BODY[]")
            if isinstance(body, bytes):
                messages.append(FetchedMessage(uid, body, _aware(data.get(b"INTERNALDATE"))))
        return messages

    def _fetch(self, uids: Sequence[int], items: list[str]) -> dict[int, dict[bytes, Any]]:
        """FETCH `items` of `uids`, UIDS_PER_COMMAND UIDs a command."""
        found: dict[int, dict[bytes, Any]] = {}
        for part in per_command(uids):
            with self._mapped("FETCH"):
                response = self.client.fetch(part, items)
            found.update((int(uid), data) for uid, data in response.items())
        return found

    def move(self, folder: str, uids: Iterable[int], target: str) -> None:
        """Move stored messages to another folder."""
        self.select(folder, write=True)
        for part in per_command(uids):
            with self._mapped("MOVE"):
                self.client.move(part, target)

    def delete(self, folder: str, uids: Iterable[int]) -> None:
        """Delete and expunge exactly these UIDs."""
        wanted = list(uids)
        if not wanted:
            return
        self.select(folder, write=True)
        for part in per_command(wanted):
            with self._mapped("EXPUNGE"):
                self.client.delete_messages(part)
                self.client.expunge(part)

    def find_by_message_id(self, folder: str, message_id: str) -> list[int]:
        """UIDs in `folder` whose Message-ID header is `message_id`."""
        self.select(folder)
        with self._mapped("SEARCH"):
            found = self.client.search(["HEADER", "Message-ID", message_id])
        return sorted(int(u) for u in found)
