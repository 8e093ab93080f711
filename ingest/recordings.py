"""Recordings from drop folders: verified, tagged, stored once, no stray copy left.

Per file: skipped until unchanged for `stable_seconds` (never half a copy);
type from its bytes (libmagic), then a readable duration, or it goes to the
quarantine folder with a reason (never deleted); sha256 while streaming;
stored under a content-addressed key; read back and checked (size and
sha256); committed with its tags; only then the source copy is deleted (or
moved, or kept, as configured). Same bytes again: nothing new is stored.

Over 300 lines because a recording's checks, storing, tagging and quarantine
are one file's way through.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine
from sqlmodel import Session, select

from ingest.counts import Counts
from ingest.headers import safe_filename
from ingest.media import (
    MediaInfo,
    is_allowed,
    probe,
    recorded_at_from_name,
    second_opinion,
    sniff,
)
from ingest.quarantine import store_refused
from models.clock import Clock
from models.enums import ItemKind, LegalBasis, ParseStatus
from models.errors import InvalidInput
from models.policy import Policy
from models.tables import Item, Subject
from storage.blobs import CHUNK, BlobStore, StoredBlob
from storage.engine import transaction
from storage.errors import BlobIntegrityError
from storage.items import add_item, link_subjects, set_text, stamp_expiry
from storage.registry import find_subject_by_email
from storage.sink import sha256_of

__all__ = ["RecordingIngestor", "RecordingRules", "RecordingSummary", "recording_key"]

# Domain labels have no '_', so "bo@example.se_2026-04-02.webm" yields bo@example.se.
_EMAIL = re.compile(r"[\w.+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![A-Za-z0-9])")
_SUBJECT_ID = re.compile(r"(?:^|[_\-. ])subject-(\d+)(?:$|[_\-. ])", re.IGNORECASE)
_FOLDER_ID = re.compile(r"^(?:subject-)?(\d+)$", re.IGNORECASE)


def recording_key(sha256: str) -> str:
    """Content-addressed blob key of a recording."""
    return f"rec/{sha256[:2]}/{sha256}"


@dataclass(frozen=True)
class RecordingRules:
    """How recordings are taken in."""

    quarantine: Path
    allowed: tuple[str, ...] = ("audio/*", "video/*")
    stable_seconds: int = 60
    after_store: Literal["delete", "keep", "move"] = "delete"
    move_to: Path | None = None
    special_category: bool = True  # a recorded session is sensitive by default


@dataclass
class RecordingSummary(Counts):
    """Counts (no names) of one run."""

    seen: int = 0
    new: int = 0
    duplicates: int = 0
    quarantined: int = 0
    unassigned: int = 0
    not_yet_stable: int = 0
    bytes_stored: int = 0
    item_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Tag:
    subject_ids: tuple[int, ...]
    reason: str
    recorded_at: datetime | None = None
    purpose: str = "agreement"
    note: str = ""


def _sidecar(path: Path) -> Path | None:
    for candidate in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if candidate != path and candidate.is_file():
            return candidate
    return None


class RecordingIngestor:
    """Takes recordings from folders into the index and the blob store."""

    def __init__(
        self, engine: Engine, blobs: BlobStore, policy: Policy, clock: Clock, rules: RecordingRules
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self.policy = policy
        self.clock = clock
        self.rules = rules

    def files(self, root: Path) -> Iterator[Path]:
        """Candidate files below `root` (sidecars, hidden files and the quarantine skipped)."""
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.suffix.lower() == ".json":
                continue
            if any(part.startswith(".") for part in path.relative_to(root).parts):
                continue
            if self.rules.quarantine in path.parents:
                continue
            yield path

    def ingest_folder(
        self, root: Path, *, progress: Callable[[RecordingSummary], None] | None = None
    ) -> RecordingSummary:
        """Every stable file below `root`; `progress` is called after each file."""
        if not root.is_dir():
            raise InvalidInput(f"--dir {root}: not a folder")
        summary = RecordingSummary()
        for path in self.files(root):
            self.ingest_file(path, root, summary)
            if progress is not None:
                progress(summary)
        return summary

    def ingest_file(
        self, path: Path, root: Path, summary: RecordingSummary, *, stable: bool = False
    ) -> None:
        """One file, all the way (see the module doc); `stable` skips the settling check."""
        summary.seen += 1
        stat = path.stat()
        # File times are wall-clock time: the injected clock dates retention, and a
        # run "as of" another day must not make a settled file look unsettled.
        age = time.time() - stat.st_mtime
        if not stable and age < self.rules.stable_seconds:
            summary.not_yet_stable += 1
            return
        if stat.st_size == 0:
            self._quarantine(path, root, "empty file (0 bytes)", "application/x-empty", summary)
            return
        with path.open("rb") as handle:
            head = handle.read(8192)
        mime = sniff(head)
        if not is_allowed(mime, list(self.rules.allowed)):
            placed = second_opinion(path, mime)  # libmagic unsure: what the container says
            if placed is None or not is_allowed(placed, list(self.rules.allowed)):
                reason = f"content is {mime}, not an allowed audio or video type"
                self._quarantine(path, root, reason, mime, summary)
                return
            mime = placed
        info = probe(path, mime)
        if info.duration_seconds is None:
            reason = f"{mime} with no readable duration (truncated or no audio)"
            self._quarantine(path, root, reason, mime, summary)
            return
        sha = sha256_of(path)
        with Session(self.engine) as session:
            known = session.exec(
                select(Item.id).where(Item.sha256 == sha, Item.kind == ItemKind.RECORDING.value)
            ).first()
        if known is not None:
            summary.duplicates += 1
            self._finish_source(path)
            return
        key = recording_key(sha)
        with path.open("rb") as handle:
            stored = self.blobs.put(key, handle, expected_sha256=sha)
        self._verify(key, sha, stat.st_size)
        tag = self._tag(path, root)
        self._index(path, root, stored, mime, info, tag, summary)
        self._finish_source(path)

    def _index(
        self,
        path: Path,
        root: Path,
        stored: StoredBlob,
        mime: str,
        info: MediaInfo,
        tag: _Tag,
        summary: RecordingSummary,
    ) -> None:
        """The stored recording's item: its date, people, text and expiry; counted."""
        when = (
            tag.recorded_at
            or info.recorded_at
            or recorded_at_from_name(path.name)
            or datetime.fromtimestamp(path.stat().st_mtime, UTC)
        )
        with transaction(self.engine) as session:
            item = add_item(
                session,
                stored=stored,
                kind=ItemKind.RECORDING,
                source=f"drop:{root.name}",
                source_ref=path.relative_to(root).as_posix(),
                received_at=when,
                purpose=tag.purpose,
                legal_basis=LegalBasis.CONTRACT,
                title=safe_filename(path.name),
                mime_type=mime,
                special_category=self.rules.special_category,
                provided_by_subject=False,
                parse_status=ParseStatus.OK,
            )
            assert item.id is not None
            item.duration_seconds = info.duration_seconds
            item.media_info = f"{info.container}/{info.codec}".strip("/")
            item.parse_error = tag.note or None
            link_subjects(
                session,
                item_id=item.id,
                links=[(sid, "recorded", tag.reason) for sid in tag.subject_ids],
            )
            set_text(
                session,
                item_id=item.id,
                body=f"{item.title}\n{item.media_info}\n{info.duration_seconds or 0:.0f} s",
            )
            stamp_expiry(session, self.policy, item=item, subject_ids=list(tag.subject_ids))
            summary.item_ids.append(item.id)
        summary.new += 1
        summary.bytes_stored += stored.size
        if not tag.subject_ids:
            summary.unassigned += 1

    def _verify(self, key: str, sha: str, size: int) -> None:
        """Read the stored copy back; the source is only removed after this passes."""
        digest, length = hashlib.sha256(), 0
        with self.blobs.open(key) as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                length += len(chunk)
        if digest.hexdigest() != sha or length != size:
            raise BlobIntegrityError(f"blob {key}: read-back does not match the source file")

    def _subject(self, session: Session, ref: str) -> int | None:
        ref = ref.strip()
        if ref.isdigit():
            return int(ref) if session.get(Subject, int(ref)) is not None else None
        subject = find_subject_by_email(session, address=ref)
        return subject.id if subject is not None else None

    def _tag(self, path: Path, root: Path) -> _Tag:
        """Sidecar first, then a per-subject folder, then an address or id in the name."""
        with Session(self.engine) as session:
            sidecar = _sidecar(path)
            if sidecar is not None:
                try:
                    data = json.loads(sidecar.read_text(encoding="utf-8"))
                    if not isinstance(data, dict):
                        raise ValueError("not an object")
                except (ValueError, OSError):
                    return _Tag((), "", note="sidecar unreadable; unassigned")
                when = None
                if data.get("recorded_at"):
                    try:
                        when = datetime.fromisoformat(str(data["recorded_at"]))
                        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
                    except ValueError:
                        when = None
                purpose = str(data.get("purpose") or "agreement")
                if purpose not in self.policy.purposes:
                    purpose = "agreement"
                ref = str(data.get("subject", ""))
                sid = self._subject(session, ref) if ref else None
                if sid is None:
                    return _Tag(
                        (), "", when, purpose, "sidecar names an unknown subject; unassigned"
                    )
                return _Tag((sid,), "sidecar", when, purpose)
            parts = path.relative_to(root).parts
            if len(parts) > 1:
                folder = parts[0]
                match = _FOLDER_ID.match(folder)
                sid = (
                    self._subject(session, match[1] if match else folder)
                    if (match or "@" in folder)
                    else None
                )
                if sid is not None:
                    return _Tag((sid,), "per-subject folder")
            match_id = _SUBJECT_ID.search(path.stem)
            if match_id and (sid := self._subject(session, match_id[1])) is not None:
                return _Tag((sid,), "subject id in file name")
            for address in _EMAIL.findall(path.stem):
                if (sid := self._subject(session, address)) is not None:
                    return _Tag((sid,), "address in file name")
        return _Tag((), "")

    def _finish_source(self, path: Path) -> None:
        """After a verified store: delete (default), move or keep the source and its sidecar."""
        sidecar = _sidecar(path)
        if self.rules.after_store == "keep":
            return
        for file in [path, *([sidecar] if sidecar else [])]:
            if self.rules.after_store == "move" and self.rules.move_to is not None:
                self.rules.move_to.mkdir(parents=True, exist_ok=True)
                shutil.move(str(file), self.rules.move_to / file.name)
            else:
                file.unlink(missing_ok=True)

    def _quarantine(
        self, path: Path, root: Path, reason: str, mime: str, summary: RecordingSummary
    ) -> None:
        """Keep a refused file as an encrypted, indexed item (ingest.quarantine); never dropped."""
        tag = self._tag(path, root)
        item_id = store_refused(
            self.engine,
            self.blobs,
            self.policy,
            path=path,
            source=f"drop:{root.name}",
            reason=reason,
            mime=mime,
            now=self.clock.now(),
            subject_ids=tag.subject_ids,
            tag_reason=tag.reason,
        )
        if item_id is not None:
            summary.item_ids.append(item_id)
        self._finish_source(path)
        summary.quarantined += 1
