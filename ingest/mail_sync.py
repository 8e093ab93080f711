"""Incremental IMAP sync: per folder on (UIDVALIDITY, last committed UID).

The sync state for a batch is committed in the same transaction as that
batch's items, so a crash never skips or repeats a message. A changed
UIDVALIDITY (the folder was recreated) is reconciled by Message-ID and
content hash instead of ingesting everything again. A dropped connection
or a restarted server is retried: the folder resumes from its last commit.

Over 300 lines because the unfetched-message bookkeeping and the
reconciliation after a UIDVALIDITY change belong to the same per-folder
position the sync keeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Literal, TypeVar

from sqlmodel import Session

from ingest.batching import DEFAULT_BATCH_BYTES, bounded_batches
from ingest.errors import MailboxUnavailable
from ingest.mail import IngestSummary, MailIngestor, RawMessage
from ingest.mailsource import FetchedMessage, MailSource, per_command
from storage.engine import transaction
from storage.syncstate import (
    forget_unfetched_of_other_uidvalidity,
    indexed_message_ids,
    record_unfetched,
    save_state,
    sync_state,
    unfetched_uids,
)

__all__ = ["FolderReport", "Progress", "SyncOptions", "sync_mailbox"]

T = TypeVar("T")


@dataclass(frozen=True)
class SyncOptions:
    """How a source is synced."""

    batch_size: int = 100
    batch_bytes: int = DEFAULT_BATCH_BYTES  # a batch closes before this (a larger message alone)
    ingest_delay_hours: int = 0
    after_store: Literal["leave", "move", "delete"] = "leave"
    move_to: str = ""
    retries: int = 3
    retry_wait_seconds: float = 1.0


@dataclass
class FolderReport:
    """Counts per folder (folder names are the practice's own, not personal data)."""

    folder: str
    uidvalidity: int = 0
    reconciled: bool = False
    summary: IngestSummary = field(default_factory=IngestSummary)


def _cutoff_prefix(mailbox: MailSource, uids: Sequence[int], cutoff: datetime) -> list[int]:
    """The UIDs received before `cutoff`, stopping at the first newer one (UIDs grow with time).

    The dates are asked for a command's worth of UIDs at a time, and no further than needed.
    """
    taken: list[int] = []
    for part in per_command(uids):
        dates = mailbox.internal_dates(part)
        for uid in part:
            received = dates.get(uid)
            if received is not None and received > cutoff:
                return taken
            taken.append(uid)
    return taken


Progress = Callable[[str, int, int], None]  # folder, messages done, messages to do


@dataclass
class _Folder:
    """One folder being synced: where it stands, and how its batches are fetched and saved."""

    mailbox: MailSource
    ingestor: MailIngestor
    report: FolderReport
    source: str  # "imap:<label>"
    uidvalidity: int
    reconcile: bool  # UIDVALIDITY changed: look messages up by Message-ID first
    recorded: set[int]  # UIDs with an unfetched row (from before, or failing in this run)

    def fetch(self, batch: list[int]) -> tuple[list[FetchedMessage], dict[int, str]]:
        """The batch's messages (after a renumbering: those not indexed), and what failed."""
        folder = self.report.folder
        wanted = (
            _unknown_by_message_id(self.mailbox, self.ingestor, folder, batch)
            if self.reconcile
            else batch
        )
        return _fetch_what_the_server_delivers(self.mailbox, folder, wanted)

    def raws(self, fetched: list[FetchedMessage]) -> list[RawMessage]:
        """As the pipeline takes them, each with its position."""
        where = f"{self.source}/{self.report.folder}"
        return [
            RawMessage(m.data, where, f"{self.uidvalidity}:{m.uid}", m.internal_date)
            for m in fetched
        ]

    def in_commit(self, batch: list[int], failed: dict[int, str]) -> Callable[[Session], None]:
        """What the batch's commit saves: the sync state, and the unfetched rows."""
        folder = self.report.folder
        save = save_state(self.source, folder, self.uidvalidity, batch[-1])
        if not failed and self.recorded.isdisjoint(batch):
            return save

        def commit(session: Session) -> None:
            save(session)
            record_unfetched(session, self.source, folder, self.uidvalidity, batch, failed)

        return commit


def _sync_folder(
    mailbox: MailSource,
    ingestor: MailIngestor,
    report: FolderReport,
    options: SyncOptions,
    now: datetime,
    progress: Progress | None = None,
) -> None:
    """Sync one folder, adding to `report` batch by batch (so a retry loses no count)."""
    sync, batches = _plan(mailbox, ingestor, report, options, now)
    if not batches:
        return
    done_after = list(accumulate(len(batch) for batch in batches))

    def advanced(index: int) -> None:
        if progress is not None:
            progress(report.folder, done_after[index], done_after[-1])

    # After-store actions need the connection and a committed batch: then each batch is
    # fetched, ingested and acted on in turn. Otherwise they overlap (see _pipelined).
    if options.after_store == "leave":
        _pipelined(sync, batches, advanced)
    else:
        _one_by_one(sync, batches, options, advanced)


def _plan(
    mailbox: MailSource,
    ingestor: MailIngestor,
    report: FolderReport,
    options: SyncOptions,
    now: datetime,
) -> tuple[_Folder, list[list[int]]]:
    """Select the folder, read where it stands, and cut what is new into bounded batches."""
    source_name = f"imap:{mailbox.name}"
    folder = report.folder
    uidvalidity = mailbox.select(folder)
    report.uidvalidity = uidvalidity
    with Session(ingestor.engine) as session:
        state = sync_state(session, source_name, folder)
        reconcile = state is not None and state.uidvalidity != uidvalidity
        last_uid = 0 if state is None or reconcile else state.last_uid
    report.reconciled = report.reconciled or reconcile
    if reconcile:
        with transaction(ingestor.engine) as session:
            forget_unfetched_of_other_uidvalidity(session, source_name, folder, uidvalidity)
    with Session(ingestor.engine) as session:
        again = unfetched_uids(session, source_name, folder, uidvalidity)
    uids = mailbox.uids_after(last_uid)
    if options.ingest_delay_hours:
        uids = _cutoff_prefix(mailbox, uids, now - timedelta(hours=options.ingest_delay_hours))
    if not uids and reconcile:
        with transaction(ingestor.engine) as session:
            save_state(source_name, folder, uidvalidity, 0)(session)
    sizes = _sizes(mailbox, folder, again + uids)
    batches = [
        batch
        for todo in (again, uids)  # what the server would not deliver before goes first
        for batch in bounded_batches(
            todo,
            lambda uid: sizes.get(uid, 0),
            max_count=options.batch_size,
            max_bytes=options.batch_bytes,
        )
    ]
    sync = _Folder(mailbox, ingestor, report, source_name, uidvalidity, reconcile, set(again))
    return sync, batches


def _pipelined(sync: _Folder, batches: list[list[int]], advanced: Callable[[int], None]) -> None:
    """One I/O thread owns the connection and fetches batch k+1 while the ingestor stores
    and parses the two after batch k (its own helper threads) and this thread commits,
    tags and indexes batch k."""
    failures: list[int] = []  # per batch, in the order the batches are committed
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap-fetch") as io:

        def fetched_batches() -> Iterator[tuple[list[RawMessage], Callable[[Session], None]]]:
            pending = io.submit(sync.fetch, batches[0])
            for index, batch in enumerate(batches):
                fetched, failed = pending.result()
                if index + 1 < len(batches):
                    pending = io.submit(sync.fetch, batches[index + 1])
                failures.append(len(failed))
                yield sync.raws(fetched), sync.in_commit(batch, failed)

        for index, summary in enumerate(sync.ingestor.ingest_stream(fetched_batches())):
            summary.unfetched += failures[index]
            sync.report.summary.add(summary)
            advanced(index)


def _one_by_one(
    sync: _Folder,
    batches: list[list[int]],
    options: SyncOptions,
    advanced: Callable[[int], None],
) -> None:
    """Each batch fetched, committed, then moved or deleted at the server."""
    folder = sync.report.folder
    for index, batch in enumerate(batches):
        fetched, failed = sync.fetch(batch)
        summary = sync.ingestor.ingest_batch(
            sync.raws(fetched), in_commit=sync.in_commit(batch, failed)
        )
        summary.unfetched += len(failed)
        sync.report.summary.add(summary)
        advanced(index)
        if fetched:
            # Only after the batch's bytes were stored (sha256 checked) and committed.
            stored_uids = [m.uid for m in fetched]
            if options.after_store == "move":
                sync.mailbox.move(folder, stored_uids, options.move_to)
            else:
                sync.mailbox.delete(folder, stored_uids)
            sync.mailbox.select(folder)


def _or_reopened(mailbox: MailSource, folder: str, ask: Callable[[], T], otherwise: T) -> T:
    """`ask()`, or `otherwise` on a fresh connection when the server fails the command."""
    try:
        return ask()
    except MailboxUnavailable:
        mailbox.reopen(folder)  # raises on to the retries when the server is gone
        return otherwise


def _sizes(mailbox: MailSource, folder: str, uids: list[int]) -> dict[int, int]:
    """Each message's size, or none when the server fails to tell (a message it cannot
    deliver fails RFC822.SIZE too): then batches are bounded by count alone this run."""
    return _or_reopened(mailbox, folder, lambda: mailbox.sizes(uids), {}) if uids else {}


def _fetch_what_the_server_delivers(
    mailbox: MailSource, folder: str, uids: list[int]
) -> tuple[list[FetchedMessage], dict[int, str]]:
    """The batch's messages, and why not for each one the server would not deliver.

    A failed FETCH is tried once more on a fresh connection (a dropped connection, a
    restarted server). If it fails again, each message is fetched alone: one that
    fails alone while the server answers a fresh connection right after is the
    server's problem with that message (a damaged file, Gmail's "could not be
    FETCHed"); the sync goes on past it and tries it again next run. When the server
    cannot be reached, the error goes on to the sync's retries as before.
    """
    for _ in range(2):  # as it came, then once more on a fresh connection
        whole = _or_reopened(mailbox, folder, lambda: mailbox.fetch(uids), None)
        if whole is not None:
            return whole, {}
    fetched: list[FetchedMessage] = []
    failed: dict[int, str] = {}
    for uid in uids:
        try:
            fetched += mailbox.fetch([uid])
        except MailboxUnavailable as exc:
            failed[uid] = f"the server would not deliver it ({exc.kind})"
            mailbox.reopen(folder)  # raises on to the retries when the server is gone
    return fetched, failed


def _unknown_by_message_id(
    mailbox: MailSource, ingestor: MailIngestor, folder: str, uids: list[int]
) -> list[int]:
    """After a UIDVALIDITY change: only UIDs whose Message-ID the index does not hold.

    When the server fails to give the Message-IDs (a message it cannot deliver fails
    that too), every UID is fetched: the content hash still finds what is indexed.
    """
    ids = _or_reopened(mailbox, folder, lambda: mailbox.message_ids(uids), None)
    if ids is None:
        return uids
    present = {i for i in ids.values() if i}
    with Session(ingestor.engine) as session:
        known = indexed_message_ids(session, present)
    return [uid for uid in uids if ids.get(uid) is None or ids[uid] not in known]


def sync_mailbox(
    connect: Callable[[], MailSource],  # makes a fresh, unconnected mailbox
    ingestor: MailIngestor,
    options: SyncOptions,
    *,
    source_name: str,
    now: datetime,
    progress: Progress | None = None,
    where: str = "",
) -> list[FolderReport]:
    """Sync every folder of one source, reconnecting on network failure.

    `where` (host:port) names the server in the error when the retries are used up.

    Raises MailboxUnavailable when the retries are used up; everything
    committed before that stays committed.
    """
    reports: dict[str, FolderReport] = {}
    done: set[str] = set()
    pending = ingestor.finish_pending()
    attempt = 0
    while True:
        mailbox: MailSource | None = None
        try:
            mailbox = connect()
            mailbox.connect()
            for folder in mailbox.folders():
                if folder in done:
                    continue
                report = reports.setdefault(folder, FolderReport(folder))
                _sync_folder(mailbox, ingestor, report, options, now, progress)
                done.add(folder)
            break
        except MailboxUnavailable as exc:
            attempt += 1
            if attempt > options.retries:
                raise MailboxUnavailable(
                    f"mail source {source_name}{f' at {where}' if where else ''}: gave up after "
                    f"{options.retries} retries ({exc.kind})",
                    kind=exc.kind,
                ) from None
            time.sleep(options.retry_wait_seconds * attempt)
        finally:
            if mailbox is not None:
                mailbox.close()
    if reports and pending.new + pending.parse_errors:
        first = next(iter(reports.values()))
        first.summary.add(pending)
    return list(reports.values())
