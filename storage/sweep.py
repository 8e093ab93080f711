"""The sweep: the one path by which anything is deleted.

Erasure, consent withdrawal, objection and ordinary expiry all only move
`expires_at`; this deletes. Per batch:

1. select expired live items that no active hold covers;
2. mark them `deleting` and commit (the intent survives a crash);
3. delete every copy of blobs no remaining item uses (all object versions);
4. verify each is gone (`remaining` is empty for it);
5. in one transaction: remove text, links and rows, append a ledger entry
   per item; commit.

A crash anywhere is finished by the next sweep, which first resumes items
left `deleting`. Running twice deletes nothing twice. A failure on one item
leaves it `deleting`, is reported, and never stops the others. Reports and
ledger entries hold ids, hashes, rules and counts: no personal data.

One module (about 400 lines) because the five steps share one discipline
(mark, delete, verify, remove, ledger) that is checked best read top to
bottom; who goes with their last item is storage.subject_sweep, the copies at
the sources storage.source_copies.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from models.clock import Clock, local_date
from models.enums import ItemState
from models.policy import Policy
from models.tables import (
    Hold,
    Item,
    ItemSource,
    ItemSubject,
    ItemText,
    SweepReport,
)
from storage import ledger
from storage.blobs import BlobStore
from storage.engine import scrub_after_delete, transaction
from storage.expiry import recompute
from storage.holds import held_item_ids
from storage.keybinding import bind_keys, shred
from storage.keystore import KeyStore
from storage.locks import exclusive
from storage.source_copies import Erasers, erase_at_sources
from storage.subject_sweep import sweep_subjects

__all__ = [
    "Horizon",
    "SweepOptions",
    "SweepResult",
    "preview_horizons",
    "remove_item_rows",
    "run_sweep",
]


@dataclass(frozen=True)
class SweepOptions:
    """How to sweep."""

    dry_run: bool = False
    preview_days: int = 0  # with dry_run: what would go within this many days
    batch_size: int = 500
    lock_wait_seconds: float = 900.0  # how long to wait for a sweep (or restore) running


@dataclass
class SweepResult:
    """What a sweep did or would do; ids, rules and counts only."""

    started_at: str = ""
    finished_at: str = ""
    dry_run: bool = False
    as_of: str = ""
    expiry_changes: int = 0
    resumed: int = 0
    deleted: int = 0
    deleted_by_rule: dict[str, int] = field(default_factory=dict)
    bytes_freed: int = 0
    blobs_deleted: int = 0
    held_past_expiry: int = 0
    held_past_expiry_item_ids: list[int] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    subjects_deleted: int = 0
    would_delete_item_ids: list[int] = field(default_factory=list)
    # Dry run: each item that would go, with its recomputed rule and first deletable day.
    would_delete: list[dict[str, Any]] = field(default_factory=list)
    ledger_head: dict[str, Any] = field(default_factory=dict)
    report_id: int | None = None
    subject_keys_destroyed: int = 0
    stale_temp_removed: int = 0  # leftovers of killed runs (snapshots, bundles) removed
    # People whose items this run deleted (not reported: only used to sweep them).
    touched_subjects: set[int] = field(default_factory=set, repr=False)
    # People deleted from the index: id -> creation time (for the key store's tombstones).
    deleted_subjects: dict[int, str] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The report: everything but internal bookkeeping."""
        internal = {"touched_subjects", "deleted_subjects"}
        return {k: v for k, v in asdict(self).items() if k not in internal}

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures


def _expired_ids(session: Session, *, until: datetime, after_id: int, limit: int) -> list[int]:
    query = (
        select(Item.id)
        .where(
            Item.state == ItemState.LIVE.value,
            col(Item.expires_at).is_not(None),
            col(Item.expires_at) <= until,
            col(Item.id) > after_id,
        )
        .order_by(col(Item.id))
        .limit(limit)
    )
    return [i for i in session.exec(query) if i is not None]


def _delete_batch(
    engine: Engine,
    blobs: BlobStore,
    ids: list[int],
    result: SweepResult,
    now: datetime,
    erasers: Erasers,
) -> None:
    """Steps 3-5 for items already marked `deleting` (source originals first)."""
    with Session(engine, expire_on_commit=False) as session:
        items = list(session.exec(select(Item).where(col(Item.id).in_(ids))))
    erased_at_source, source_failed = erase_at_sources(engine, items, erasers)
    for item_id, reason in sorted(source_failed.items()):
        result.failures.append({"item_id": item_id, "reason": f"source copy: {reason}"})
    items = [item for item in items if item.id not in source_failed]
    ids = [item.id for item in items if item.id is not None]
    if not items:
        return
    with Session(engine, expire_on_commit=False) as session:
        keys = {item.blob_key for item in items}
        still_used = set(
            session.exec(
                select(Item.blob_key).where(col(Item.blob_key).in_(keys), col(Item.id).not_in(ids))
            )
        )
    to_delete = sorted(keys - still_used)
    outcome = blobs.delete(to_delete)
    left = blobs.remaining(outcome.deleted)
    failed_keys = {**outcome.failed, **dict.fromkeys(left, "still present after delete")}
    done = [item for item in items if item.blob_key not in failed_keys]
    for item in items:
        if item.blob_key in failed_keys:
            result.failures.append(
                {"item_id": item.id, "reason": f"blob delete: {failed_keys[item.blob_key]}"}
            )
    if not done:
        return
    done_ids = [item.id for item in done if item.id is not None]
    with transaction(engine) as session:
        # Only rows still marked here are removed and ledgered: another sweep that got
        # past the lock (it cannot) or a restore could not make one deletion count twice.
        marked = set(
            session.exec(
                select(Item.id).where(
                    col(Item.id).in_(done_ids), Item.state == ItemState.DELETING.value
                )
            )
        )
        done = [item for item in done if item.id in marked]
        done_ids = [i for i in done_ids if i in marked]
        result.touched_subjects |= set(
            session.exec(
                select(ItemSubject.subject_id).where(col(ItemSubject.item_id).in_(done_ids))
            )
        )
        remove_item_rows(session, done_ids)
        for item in done:
            shared = item.blob_key in still_used
            ledger.item_deleted(
                session,
                item,
                at=now,
                detail={
                    "verified": ["text-removed", "links-removed", "row-removed"]
                    + (["blob-kept-for-another-item"] if shared else ["blob-absent"])
                    + (["source-copy-absent"] if item.id in erased_at_source else []),
                    "expired_at": item.expires_at.isoformat() if item.expires_at else None,
                },
            )
    result.deleted += len(done)
    result.blobs_deleted += len([k for k in to_delete if k not in failed_keys])
    result.bytes_freed += sum(item.size for item in done if item.blob_key not in still_used)
    for item in done:
        result.deleted_by_rule[item.rule_id] = result.deleted_by_rule.get(item.rule_id, 0) + 1


def remove_item_rows(session: Session, ids: list[int]) -> None:
    """Delete items' rows: text, links, holds, the rows themselves (children unparented)."""
    session.execute(delete(ItemText).where(col(ItemText.item_id).in_(ids)))
    session.execute(delete(ItemSubject).where(col(ItemSubject.item_id).in_(ids)))
    session.execute(delete(ItemSource).where(col(ItemSource.item_id).in_(ids)))
    session.execute(delete(Hold).where(col(Hold.item_id).in_(ids)))
    session.execute(update(Item).where(col(Item.parent_id).in_(ids)).values(parent_id=None))
    session.execute(delete(Item).where(col(Item.id).in_(ids)))


def _resume(
    engine: Engine,
    blobs: BlobStore,
    result: SweepResult,
    now: datetime,
    size: int,
    erasers: Erasers,
) -> None:
    """Finish items a crashed sweep left `deleting`; give back ones a new hold covers."""
    last = 0
    while True:
        with transaction(engine) as session:
            ids = [
                i
                for i in session.exec(
                    select(Item.id)
                    .where(Item.state == ItemState.DELETING.value, col(Item.id) > last)
                    .order_by(col(Item.id))
                    .limit(size)
                )
                if i is not None
            ]
            if not ids:
                return
            last = ids[-1]
            given_back: set[int] = set()
            held = held_item_ids(session, ids)
            if held:
                # A hold placed after the mark: if the bytes are still whole, undo the mark.
                rows = session.exec(select(Item).where(col(Item.id).in_(held)))
                given_back = {r.id for r in rows if r.id is not None and blobs.exists(r.blob_key)}
                session.execute(
                    update(Item)
                    .where(col(Item.id).in_(given_back))
                    .values(state=ItemState.LIVE.value)
                )
        finish = [i for i in ids if i not in given_back]
        result.resumed += len(finish)
        if finish:
            _delete_batch(engine, blobs, finish, result, now, erasers)


def _held_past_expiry(session: Session, now: datetime) -> list[int]:
    ids = _expired_ids(session, until=now, after_id=0, limit=100_000)
    return sorted(held_item_ids(session, ids))


def _preview(engine: Engine, policy: Policy, result: SweepResult, until: datetime) -> None:
    """What a sweep would delete by `until`, judged on recomputed dates; writes nothing."""
    with Session(engine) as session:
        changes = recompute(session, policy)  # applied inside this session only...
        result.expiry_changes = len(changes)
        due = _expired_ids(session, until=until, after_id=0, limit=10_000_000)
        held = held_item_ids(session, due)
        facts = {
            r.id: (r.rule_id, r.size, r.expires_at)
            for r in session.exec(select(Item).where(col(Item.id).in_(due)))
        }
        session.rollback()  # ...and rolled back: a dry run touches nothing
    result.held_past_expiry_item_ids = sorted(held)
    result.held_past_expiry = len(held)
    result.would_delete_item_ids = [i for i in due if i not in held]
    result.deleted_by_rule = dict(Counter(facts[i][0] for i in result.would_delete_item_ids))
    result.bytes_freed = sum(facts[i][1] for i in result.would_delete_item_ids)
    result.would_delete = [
        {
            "item_id": i,
            "rule": facts[i][0],
            "deletable_from": local_date(expires).isoformat() if (expires := facts[i][2]) else None,
        }
        for i in result.would_delete_item_ids
    ]


@dataclass(frozen=True)
class Horizon:
    """What a sweep run `days` days from now would delete, and what holds keep past date."""

    days: int
    would_delete_item_ids: list[int]
    held_past_expiry_item_ids: list[int]


def preview_horizons(
    engine: Engine, policy: Policy, now: datetime, days: Sequence[int]
) -> list[Horizon]:
    """The dry run of `run_sweep` for several horizons at once (one recompute; writes nothing)."""
    horizons = []
    with Session(engine) as session:
        recompute(session, policy)  # applied inside this session only, then rolled back
        for ahead in days:
            due = _expired_ids(
                session, until=now + timedelta(days=ahead), after_id=0, limit=10_000_000
            )
            held = held_item_ids(session, due)
            horizons.append(Horizon(ahead, [i for i in due if i not in held], sorted(held)))
        session.rollback()
    return horizons


def run_sweep(
    engine: Engine,
    blobs: BlobStore,
    policy: Policy,
    clock: Clock,
    *,
    options: SweepOptions = SweepOptions(),
    hash_key: bytes | None = None,
    erasers: Erasers | None = None,
    keystore: KeyStore | None = None,
) -> SweepResult:
    """Recompute every expiry, then delete what is due and unheld; see the module doc.

    With a key store (encryption on), every blob's key is then held by
    exactly its subjects and the keys of people with nothing left are
    destroyed (crypto-shredding), before the report records the ledger head.
    """
    sources: Erasers = erasers or {}
    now = clock.now()
    until = now + timedelta(days=options.preview_days)
    result = SweepResult(
        started_at=now.isoformat(), dry_run=options.dry_run, as_of=until.isoformat()
    )

    if options.dry_run:
        _preview(engine, policy, result, until)
        result.finished_at = clock.now().isoformat()
        return result
    with exclusive(engine, wait=options.lock_wait_seconds):
        _sweep(engine, blobs, policy, clock, options, result, hash_key, sources, keystore)
    return result


def _sweep(
    engine: Engine,
    blobs: BlobStore,
    policy: Policy,
    clock: Clock,
    options: SweepOptions,
    result: SweepResult,
    hash_key: bytes | None,
    sources: Erasers,
    keystore: KeyStore | None,
) -> None:
    """The sweep proper, under the exclusive lock (see `run_sweep`)."""
    now = clock.now()
    with transaction(engine) as session:
        result.expiry_changes = len(recompute(session, policy))

    _resume(engine, blobs, result, now, options.batch_size, sources)

    last = 0
    while True:
        with transaction(engine) as session:
            ids = _expired_ids(session, until=now, after_id=last, limit=options.batch_size)
            if not ids:
                break
            last = ids[-1]
            frozen = held_item_ids(session, ids)
            due = [i for i in ids if i not in frozen]
            if due:
                session.execute(
                    update(Item)
                    .where(col(Item.id).in_(due), col(Item.state) == ItemState.LIVE.value)
                    .values(state=ItemState.DELETING.value)
                )
        if due:
            _delete_batch(engine, blobs, due, result, now, sources)

    sweep_subjects(engine, policy, result, now, hash_key)
    if keystore is not None:
        bind_keys(engine, keystore, now)
        result.subject_keys_destroyed = len(
            shred(engine, keystore, now, deleted_subjects=result.deleted_subjects)
        )
    scrub_after_delete(engine)

    with transaction(engine) as session:
        held_ids = _held_past_expiry(session, now)
        result.held_past_expiry = len(held_ids)
        result.held_past_expiry_item_ids = held_ids
        head = ledger.head(session)
        result.ledger_head = {"seq": head.seq, "entry_hash": head.entry_hash}
        result.finished_at = clock.now().isoformat()
        report = SweepReport(
            started_at=now,
            finished_at=clock.now(),
            dry_run=False,
            summary=json.dumps({k: v for k, v in result.as_dict().items() if k != "report_id"}),
        )
        session.add(report)
        session.flush()
        result.report_id = report.id


def last_recorded_head(session: Session) -> ledger.LedgerHead | None:
    """The ledger head the newest sweep report saw (to catch a cut tail)."""
    report = session.exec(
        select(SweepReport)
        .where(col(SweepReport.dry_run).is_(False))
        .order_by(col(SweepReport.id).desc())
        .limit(1)
    ).first()
    if report is None:
        return None
    head = json.loads(report.summary).get("ledger_head") or {}
    if not head:
        return None
    return ledger.LedgerHead(int(head["seq"]), str(head["entry_hash"]))
