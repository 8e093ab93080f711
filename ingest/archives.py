"""Mail archives as message streams: mbox, Maildir (with Maildir++ subfolders), .eml folders.

Each yields one message at a time (a large archive never sits whole in
memory); `batched` groups them for the pipeline.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from ingest.batching import DEFAULT_BATCH_BYTES, bounded_batches
from ingest.errors import ArchiveUnreadable
from ingest.mail import RawMessage

__all__ = ["batched", "read_eml_dir", "read_files", "read_maildir", "read_mbox"]

EML_SUFFIXES = (".eml", ".msg")


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


def read_eml_dir(path: Path) -> Iterator[RawMessage]:
    """Every .eml/.msg file below `path`, one message per file."""
    if not path.is_dir():
        raise ArchiveUnreadable(f"--eml-dir {path}: not a folder")
    for file in sorted(
        p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in EML_SUFFIXES
    ):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise ArchiveUnreadable(f"--eml-dir: cannot read a file ({exc.strerror})") from None
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
