"""Mail archives as message streams: mbox, Maildir (with Maildir++ subfolders), .eml folders.

Each yields one message at a time (a large archive never sits whole in
memory); `batched` groups them for the pipeline.
"""

from __future__ import annotations

import mailbox
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest.batching import DEFAULT_BATCH_BYTES, bounded_batches
from ingest.errors import ArchiveUnreadable
from ingest.mail import RawMessage

__all__ = [
    "EML_SUFFIXES",
    "PassedOver",
    "batched",
    "not_a_message",
    "read_eml_dir",
    "read_files",
    "read_maildir",
    "read_mbox",
]

EML_SUFFIXES = (".eml", ".msg")  # some tools write RFC 822 text as .msg; Outlook's are OLE2
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# A message starts with a header field (RFC 5322 field name and colon) or an mbox From_ line.
_FIRST_LINE = re.compile(rb"(?:From |[!-9;-~]{1,200}[ \t]*:)")


@dataclass
class PassedOver:
    """Files of an --eml-dir folder that were not read as mail, by reason (counts only)."""

    other_suffix: int = 0  # not named .eml/.msg (or a --suffix given)
    outlook_msg: int = 0  # an Outlook .msg (OLE2) file: not RFC 822 text
    not_a_message: int = 0  # a PDF, an image, anything that does not start with a header

    @property
    def total(self) -> int:
        """All files passed over."""
        return self.other_suffix + self.outlook_msg + self.not_a_message


def not_a_message(head: bytes) -> str | None:
    """Why a file starting with `head` is not an RFC 822 message ('outlook', 'other'), or None."""
    if head.startswith(_OLE2):
        return "outlook"
    return None if _FIRST_LINE.match(head.lstrip(b"\r\n")) else "other"


def read_mbox(path: Path) -> Iterator[RawMessage]:
    """Every message of an mbox file, in order."""
    if not path.is_file():
        raise ArchiveUnreadable(f"--mbox {path}: not a readable file")
    box = mailbox.mbox(path, create=False)
    try:
        for index, key in enumerate(box.iterkeys()):
            yield RawMessage(box.get_bytes(key), f"mbox:{path.name}", f"{index}")
    finally:
        box.close()


def _maildir_folders(
    box: mailbox.Maildir, prefix: str = ""
) -> Iterator[tuple[str, mailbox.Maildir]]:
    yield prefix or "INBOX", box
    for name in sorted(box.list_folders()):
        # Tools keep their own dot-folders in a Maildir (notmuch's .notmuch/, say):
        # only a folder with cur/ or new/ holds mail.
        folder = Path(box._path) / f".{name}"
        if not (folder / "cur").is_dir() and not (folder / "new").is_dir():
            continue
        yield from _maildir_folders(box.get_folder(name), f"{prefix}.{name}" if prefix else name)


def _maildir_messages(folder: Path) -> list[tuple[str, Path]]:
    """(key, file) of every message in new/ and cur/, by key (the name before ':')."""
    found: list[tuple[str, Path]] = []
    for sub in ("new", "cur"):
        where = folder / sub
        if not where.is_dir():
            continue
        found += [
            (entry.name.split(":", 1)[0], entry)
            for entry in where.iterdir()
            if not entry.name.startswith(".") and entry.is_file()
        ]
    return sorted(found)


def read_maildir(path: Path) -> Iterator[RawMessage]:
    """Every message of a Maildir and its subfolders (new and cur).

    Files are read as bytes: mailbox.Maildir.get_message would run the whole
    MIME parser over each message only to learn the file's date.
    """
    if not (path / "cur").is_dir() and not (path / "new").is_dir():
        raise ArchiveUnreadable(f"--maildir {path}: no cur/ or new/ folder")
    root = mailbox.Maildir(path, factory=None, create=False)
    for folder, box in _maildir_folders(root):
        for key, file in _maildir_messages(Path(box._path)):
            try:
                data = file.read_bytes()
                delivered = datetime.fromtimestamp(file.stat().st_mtime, UTC)
            except FileNotFoundError:
                continue  # moved or deleted by a mail client meanwhile
            except OSError as exc:
                raise ArchiveUnreadable(f"--maildir: cannot read a file ({exc.strerror})") from None
            yield RawMessage(data, f"maildir:{path.name}/{folder}", key, delivered)


def read_eml_dir(
    path: Path,
    *,
    suffixes: Iterable[str] = EML_SUFFIXES,
    passed_over: PassedOver | None = None,
) -> Iterator[RawMessage]:
    """Every file below `path` ending in one of `suffixes`, one message per file.

    Nothing is skipped silently: other endings, Outlook's OLE2 .msg files and
    files that do not start like a message are counted in `passed_over`.
    """
    if not path.is_dir():
        raise ArchiveUnreadable(f"--eml-dir {path}: not a folder")
    wanted = {s.lower() if s.startswith(".") else f".{s.lower()}" for s in suffixes}
    skipped = passed_over if passed_over is not None else PassedOver()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        if file.suffix.lower() not in wanted:
            skipped.other_suffix += 1
            continue
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise ArchiveUnreadable(f"--eml-dir: cannot read a file ({exc.strerror})") from None
        reason = not_a_message(data[:512])
        if reason == "outlook":
            skipped.outlook_msg += 1
        elif reason is not None:
            skipped.not_a_message += 1
        else:
            yield RawMessage(data, f"eml:{path.name}", file.relative_to(path).as_posix())


def read_files(paths: Iterable[Path], *, source: str) -> Iterator[RawMessage]:
    """Named files, one message each (e.g. a corpus whose messages end in .txt)."""
    for file in paths:
        yield RawMessage(file.read_bytes(), source, file.name)


def batched(
    messages: Iterable[RawMessage], size: int, max_bytes: int = DEFAULT_BATCH_BYTES
) -> Iterator[list[RawMessage]]:
    """Groups of at most `size` messages and `max_bytes` of raw bytes (a larger message alone)."""
    return bounded_batches(messages, lambda m: len(m.data), max_count=size, max_bytes=max_bytes)
