"""The mail pipeline: store, then commit, then parse and tag. Exactly once.

For a batch of raw messages:

1. hash each; drop those already indexed (same sha256) and those the
   ledger says were deleted (an erased message must not come back);
2. store the raw bytes under a content-addressed key (``mail/ab/<sha256>``)
   while parse workers read them; then store their attachments the same way
   (``att/ab/<sha256>``);
3. commit the items (``pending``) with their source position, and the
   caller's sync-state update, in one transaction, whatever the parse did;
4. tag by the parse, split attachments into their own items, stamp expiry; commit.

A crash after 2 leaves blobs the re-run rewrites under the same keys; after
3, items `pending` that `finish_pending` parses. Reports carry counts only.

Over 300 lines because the four steps and the pipeline that overlaps them
share the exactly-once rules (store, commit, re-check, tag).
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from ingest.counts import Counts
from ingest.mail_batch import Parsed, attachment_key, store_all, tag_batch
from ingest.parse import (
    MAX_PARSE_BYTES,
    ParsedMessage,
    parse_message,
)
from ingest.parse_pool import ParsePool
from ingest.tagging import TaggingRules
from models.clock import Clock
from models.enums import ItemKind, ParseStatus
from models.policy import Policy
from models.tables import Item, ItemSource, LedgerEntry
from storage.blobs import BlobStore, StoredBlob
from storage.bulk import insert_ignoring_conflicts
from storage.engine import transaction, wal_checkpoints_in_background, write_transaction
from storage.items import item_row, stamp_expiry

__all__ = ["IngestSummary", "MailIngestor", "RawMessage"]

log = logging.getLogger("gallra.ingest")


@dataclass(frozen=True)
class RawMessage:
    """One message as fetched: bytes and where it came from."""

    data: bytes
    source: str  # e.g. "imap:practice/INBOX", "mbox:archive.mbox"; never an address
    source_ref: str  # "uidvalidity:uid", a file name, an mbox index
    internal_date: datetime | None = None


@dataclass
class IngestSummary(Counts):
    """Counts of what an ingest run did (no personal data)."""

    fetched: int = 0
    new: int = 0
    duplicates: int = 0
    previously_deleted: int = 0
    skipped_bulk: int = 0
    parse_errors: int = 0
    parse_warnings: int = 0
    attachments: int = 0
    prospects_created: int = 0
    bytes_stored: int = 0
    tagged_one_by_one: int = 0  # batches the bulk path could not take (see _tag)
    unfetched: int = 0  # messages the server would not deliver (tried again next run)
    item_ids: list[int] = field(default_factory=list)


def mail_key(sha256: str) -> str:
    """Content-addressed blob key of a raw message."""
    return f"mail/{sha256[:2]}/{sha256}"


@dataclass
class _Prepared:
    """A batch stored and parsed (its attachments stored too), not yet committed."""

    summary: IngestSummary
    fresh: dict[str, RawMessage]  # sha256 -> message, new to the index when looked up
    stored: dict[str, StoredBlob]
    parsed: list[ParsedMessage] | Exception  # in `fresh` order; why not, when parsing failed
    attachments: dict[str, StoredBlob]  # sha256 -> blob, of every attachment of `parsed`
    positions: list[tuple[str, str, str]]  # (sha256, source, source_ref) of every message


class MailIngestor:
    """Ingests raw messages into the index and the blob store."""

    def __init__(
        self,
        engine: Engine,
        blobs: BlobStore,
        policy: Policy,
        rules: TaggingRules,
        clock: Clock,
        *,
        parse_workers: int = 0,
        max_parse_bytes: int = MAX_PARSE_BYTES,
        parser: ParsePool | None = None,
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self.policy = policy
        self.rules = rules
        self.clock = clock
        self.parser = parser or ParsePool(parse_workers, max_parse_bytes)

    def __enter__(self) -> MailIngestor:
        self.parser.start()  # the workers start (~0.5 s) while the first batch is fetched
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the parse workers, if any."""
        self.parser.close()

    def ingest_batch(
        self,
        messages: Sequence[RawMessage],
        *,
        in_commit: Callable[[Session], None] | None = None,
    ) -> IngestSummary:
        """Steps 1-4 for a batch; `in_commit` runs inside the commit of step 3."""
        return self._finish(self._prepare(messages), in_commit)

    def ingest_stream(
        self,
        batches: Iterable[tuple[Sequence[RawMessage], Callable[[Session], None] | None]],
        *,
        ahead: int = 2,
    ) -> Iterator[IngestSummary]:
        """`ingest_batch` over a stream of batches, `ahead` batches ahead.

        Steps 1-2 (hash, look up, start parsing, store) of the next `ahead`
        batches run in helper threads while this thread commits and tags the
        batch before them; commits, and so each batch's `in_commit`, keep
        their order. A message in two batches prepared at once is stored
        twice under one key and committed once (`_finish` looks again). When
        the source fails (a dropped connection), the batches already stored
        are committed before the error goes on, so a retry starts after them.
        """
        source = iter(batches)
        with (
            wal_checkpoints_in_background(self.engine),
            ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="mail-store") as helpers,
        ):
            preparing: deque[tuple[Future[_Prepared], Callable[[Session], None] | None]] = deque()

            def finish_oldest() -> IngestSummary:
                prepared, in_commit = preparing.popleft()
                return self._finish(prepared.result(), in_commit)

            while True:
                try:
                    messages, in_commit = next(source)
                except StopIteration:
                    break
                except Exception:
                    while preparing:
                        yield finish_oldest()
                    raise
                preparing.append((helpers.submit(self._prepare, messages), in_commit))
                if len(preparing) > ahead:
                    yield finish_oldest()
            while preparing:
                yield finish_oldest()

    def _prepare(self, messages: Sequence[RawMessage]) -> _Prepared:
        """Steps 1-2: hash, drop what is known or was deleted, start parsing, store."""
        summary = IngestSummary(fetched=len(messages))
        hashed: dict[str, RawMessage] = {}
        positions: list[tuple[str, str, str]] = []
        for message in messages:
            sha = hashlib.sha256(message.data).hexdigest()
            positions.append((sha, message.source, message.source_ref))
            if sha in hashed:
                summary.duplicates += 1
            else:
                hashed[sha] = message
        with Session(self.engine) as session:
            known = set(
                session.exec(
                    select(Item.sha256).where(
                        col(Item.sha256).in_(list(hashed)), Item.kind == ItemKind.EMAIL.value
                    )
                )
            )
            deleted = set(
                session.exec(
                    select(LedgerEntry.sha256).where(
                        col(LedgerEntry.sha256).in_(list(hashed)),
                        LedgerEntry.action == "item-deleted",
                        LedgerEntry.item_kind == ItemKind.EMAIL.value,
                    )
                )
            )
        summary.duplicates += len(known)
        summary.previously_deleted += len(deleted - known)
        fresh = {sha: m for sha, m in hashed.items() if sha not in known and sha not in deleted}
        parsed_later = self.parser.later([m.data for m in fresh.values()])

        stored = store_all(self.blobs, {sha: m.data for sha, m in fresh.items()}, mail_key)
        # The raw bytes are stored: a parse that fails now costs no message. The items are
        # committed whatever the parse did; the error goes on after that commit.
        try:
            parsed: list[ParsedMessage] | Exception = parsed_later()
        except Exception as exc:  # re-raised by _finish once the items are committed
            parsed = exc
        attachments: dict[str, StoredBlob] = {}
        if not isinstance(parsed, Exception):
            payloads = {a.sha256: a.data for m in parsed for a in m.attachments}
            attachments = store_all(self.blobs, payloads, attachment_key)
        return _Prepared(summary, fresh, stored, parsed, attachments, positions)

    def _finish(
        self, prepared: _Prepared, in_commit: Callable[[Session], None] | None
    ) -> IngestSummary:
        """Steps 3-4: commit the items (with `in_commit`), then tag and date them by the parse."""
        summary, fresh, stored = prepared.summary, prepared.fresh, prepared.stored
        now = self.clock.now()
        new_ids: dict[str, int] = {}
        with transaction(self.engine) as session:
            if fresh:
                # A batch prepared while the one before it was committing may hold the
                # same message (INBOX and Sent): what that commit indexed is a duplicate.
                again = set(
                    session.exec(
                        select(Item.sha256).where(
                            col(Item.sha256).in_(list(fresh)), Item.kind == ItemKind.EMAIL.value
                        )
                    )
                )
                summary.duplicates += len(again)
                fresh = {sha: m for sha, m in fresh.items() if sha not in again}
            summary.bytes_stored += sum(len(m.data) for m in fresh.values())
            new_ids = _insert_pending(session, fresh, stored, now)
            summary.duplicates += len(fresh) - len(new_ids)
            fresh = {sha: m for sha, m in fresh.items() if sha in new_ids}
            _record_positions(session, prepared.positions, new_ids, now)
            if in_commit is not None:
                in_commit(session)
        summary.new += len(new_ids)
        summary.item_ids.extend(new_ids.values())
        if not new_ids:
            return summary
        if isinstance(prepared.parsed, Exception):
            raise prepared.parsed  # the items stay pending: finish_pending parses them
        parsed = dict(zip(prepared.fresh, prepared.parsed, strict=True))
        self._tag(
            [
                Parsed(
                    item_id,
                    sha,
                    fresh[sha].source,
                    fresh[sha].source_ref,
                    fresh[sha].internal_date or now,
                    parsed[sha],
                )
                for sha, item_id in new_ids.items()
            ],
            prepared.attachments,
            summary,
        )
        return summary

    def _tag(
        self,
        entries: list[Parsed],
        attachments: dict[str, StoredBlob],
        summary: IngestSummary,
    ) -> None:
        """Tag the batch in one transaction; if that fails, each message alone (same tagger).

        A message that fails alone is flagged as a parse error in its own
        savepoint; the others of the batch are tagged as usual.
        """
        try:
            with write_transaction(self.engine) as session:
                counts = self._tag_batch(session, entries, attachments)
        except Exception as exc:
            log.warning("tagging a batch failed (%s): tagging its messages one by one",
                        type(exc).__name__)  # fmt: skip
            summary.tagged_one_by_one += 1
            with write_transaction(self.engine) as session:
                for entry in entries:
                    self._tag_alone(session, entry, attachments, summary)
            return
        _add_counts(summary, counts)

    def _tag_batch(
        self, session: Session, entries: Sequence[Parsed], attachments: dict[str, StoredBlob]
    ) -> dict[str, int]:
        return tag_batch(
            session,
            entries,
            attachments=attachments,
            policy=self.policy,
            rules=self.rules,
            now=self.clock.now(),
        )

    def _tag_alone(
        self,
        session: Session,
        entry: Parsed,
        attachments: dict[str, StoredBlob],
        summary: IngestSummary,
    ) -> None:
        """One message through the batch tagger, in a savepoint; a failure flags that item."""
        try:
            with session.begin_nested():
                _add_counts(summary, self._tag_batch(session, [entry], attachments))
        except Exception as exc:  # recorded on the item and counted, never swallowed
            item = session.get(Item, entry.item_id)
            if item is None:
                raise
            item.parse_status = ParseStatus.ERROR.value
            item.parse_error = f"tagging failed ({type(exc).__name__})"
            session.add(item)
            stamp_expiry(session, self.policy, item=item, subject_ids=[])
            summary.parse_errors += 1

    def finish_pending(self) -> IngestSummary:
        """Parse and tag items a crash left `pending` (bytes read back from the store)."""
        summary = IngestSummary()
        with Session(self.engine) as session:
            pending = list(
                session.exec(
                    select(Item).where(
                        Item.parse_status == ParseStatus.PENDING.value,
                        Item.kind == ItemKind.EMAIL.value,
                    )
                )
            )
        for item in pending:
            assert item.id is not None
            with self.blobs.open(item.blob_key) as stream:
                parsed = parse_message(stream.read(), max_bytes=self.parser.max_bytes)
            payloads = {a.sha256: a.data for a in parsed.attachments}
            attachments = store_all(self.blobs, payloads, attachment_key)
            entry = Parsed(
                item.id, item.sha256, item.source, item.source_ref, item.received_at, parsed
            )
            with write_transaction(self.engine) as session:
                current = session.get(Item, item.id)
                if current is None or current.parse_status != ParseStatus.PENDING.value:
                    continue  # another run finished it
                self._tag_alone(session, entry, attachments, summary)
        return summary


def _insert_pending(
    session: Session, fresh: dict[str, RawMessage], stored: dict[str, StoredBlob], now: datetime
) -> dict[str, int]:
    """Insert the batch's new e-mails as `pending`; sha256 -> id of those really inserted.

    Matched by sha256, not by order: a RETURNING that must keep the order of its rows costs
    SQLite one statement a row. Another ingest of the same mailbox may have committed one
    of these since the look-up: the unique index makes that a skipped row (a duplicate),
    never a second item.
    """
    if not fresh:
        return {}
    rows = [
        item_row(
            kind=ItemKind.EMAIL,
            source=m.source,
            source_ref=m.source_ref,
            received_at=m.internal_date or now,
            size=stored[sha].size,
            sha256=sha,
            mime_type="message/rfc822",
            blob_key=stored[sha].key,
            created_at=now,
        )
        for sha, m in fresh.items()
    ]
    returned = session.execute(
        insert_ignoring_conflicts(session, Item).returning(col(Item.sha256), col(Item.id)), rows
    ).all()
    by_sha = dict(returned)
    return {sha: by_sha[sha] for sha in fresh if sha in by_sha}


def _record_positions(
    session: Session,
    positions: list[tuple[str, str, str]],
    new_ids: dict[str, int],
    now: datetime,
) -> None:
    """Where each message of the batch was seen, new or already stored (once per place).

    The ids of what this batch inserted are known; only the messages stored
    before (duplicates) are looked up.
    """
    known = {sha for sha, _, _ in positions} - set(new_ids)
    ids = dict(new_ids)
    if known:
        found = session.exec(
            select(Item.sha256, Item.id).where(
                col(Item.sha256).in_(known), Item.kind == ItemKind.EMAIL.value
            )
        )
        ids |= {sha: item_id for sha, item_id in found if item_id is not None}
    rows = [
        {"item_id": ids[sha], "source": source, "source_ref": ref, "seen_at": now}
        for sha, source, ref in positions
        if sha in ids and ref
    ]
    if rows:
        session.execute(insert_ignoring_conflicts(session, ItemSource), rows)


def _add_counts(summary: IngestSummary, counts: dict[str, int]) -> None:
    for name, value in counts.items():
        setattr(summary, name, getattr(summary, name) + value)
