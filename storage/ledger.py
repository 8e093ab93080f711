"""The deletion ledger: append-only, hash-chained, no personal data.

Each entry's hash covers its fields and the previous entry's hash, so editing,
inserting or removing a row breaks the chain from that point. Removing the
newest rows is caught by comparing with the ledger head each sweep report
records.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from models.tables import Item, LedgerEntry

__all__ = [
    "GENESIS",
    "LedgerHead",
    "LedgerVerdict",
    "append",
    "head",
    "item_deleted",
    "subject_deletion",
    "verify",
]

GENESIS = "0" * 64


@dataclass(frozen=True)
class LedgerHead:
    """The newest entry's position and hash."""

    seq: int
    entry_hash: str


@dataclass(frozen=True)
class LedgerVerdict:
    """Outcome of `verify`."""

    ok: bool
    entries: int
    first_broken: int | None = None
    reason: str = ""


def _payload(entry: LedgerEntry) -> str:
    fields: dict[str, Any] = {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "action": entry.action,
        "item_id": entry.item_id,
        "item_kind": entry.item_kind,
        "sha256": entry.sha256,
        "size": entry.size,
        "rule_id": entry.rule_id,
        "policy_version": entry.policy_version,
        "detail": entry.detail,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


def _hash(prev_hash: str, entry: LedgerEntry) -> str:
    return hashlib.sha256((prev_hash + _payload(entry)).encode("utf-8")).hexdigest()


def head(session: Session) -> LedgerHead:
    """The newest entry (seq 0 and the genesis hash for an empty ledger)."""
    last = session.exec(select(LedgerEntry).order_by(col(LedgerEntry.seq).desc()).limit(1)).first()
    return LedgerHead(0, GENESIS) if last is None else LedgerHead(last.seq, last.entry_hash)


def append(
    session: Session,
    *,
    at: datetime,
    action: str,
    item_id: int | None = None,
    item_kind: str = "",
    sha256: str = "",
    size: int = 0,
    rule_id: str = "",
    policy_version: str = "",
    detail: dict[str, Any] | None = None,
) -> LedgerEntry:
    """Add an entry chained to the newest one; the caller commits.

    Two writers racing collide on the primary key and one transaction fails,
    so the chain never forks.
    """
    last = head(session)
    entry = LedgerEntry(
        seq=last.seq + 1,
        at=at,
        action=action,
        item_id=item_id,
        item_kind=item_kind,
        sha256=sha256,
        size=size,
        rule_id=rule_id,
        policy_version=policy_version,
        detail=json.dumps(detail or {}, sort_keys=True, separators=(",", ":")),
        prev_hash=last.entry_hash,
        entry_hash="",
    )
    # Hash the timestamp exactly as it will read back (UTC, microseconds).
    entry.entry_hash = _hash(last.entry_hash, entry)
    session.add(entry)
    session.flush()
    return entry


def item_deleted(session: Session, item: Item, *, at: datetime, detail: dict[str, Any]) -> None:
    """The entry for a deleted item: its id, kind, hash, size, rule and policy version."""
    append(
        session,
        at=at,
        action="item-deleted",
        item_id=item.id,
        item_kind=item.kind,
        sha256=item.sha256,
        size=item.size,
        rule_id=item.rule_id,
        policy_version=item.policy_version,
        detail=detail,
    )


def subject_deletion(session: Session, subject_id: int) -> LedgerEntry | None:
    """The entry that recorded the deletion of person `subject_id`, if one did."""
    for entry in session.exec(
        select(LedgerEntry)
        .where(LedgerEntry.action == "subject-deleted")
        .order_by(col(LedgerEntry.seq).desc())
    ):
        if json.loads(entry.detail or "{}").get("subject_id") == subject_id:
            return entry
    return None


def verify(session: Session, *, expected_head: LedgerHead | None = None) -> LedgerVerdict:
    """Walk the chain; report the first entry that does not verify.

    An item deleted twice (two `item-deleted` entries for one item id and
    sha256) breaks the ledger too: each deletion must be recorded once.
    """
    prev = GENESIS
    expected_seq = 1
    count = 0
    deleted: dict[tuple[int, str], int] = {}
    query = select(LedgerEntry).order_by(col(LedgerEntry.seq))
    result = session.exec(query.execution_options(yield_per=1000))
    try:
        for entry in result:
            if entry.seq != expected_seq:
                return LedgerVerdict(False, count, expected_seq, f"entry {expected_seq} is missing")
            if entry.prev_hash != prev:
                return LedgerVerdict(
                    False, count, entry.seq, "does not chain to the entry before it"
                )
            if _hash(prev, entry) != entry.entry_hash:
                return LedgerVerdict(False, count, entry.seq, "its content was altered")
            if entry.action == "item-deleted" and entry.item_id is not None:
                first = deleted.setdefault((entry.item_id, entry.sha256), entry.seq)
                if first != entry.seq:
                    return LedgerVerdict(
                        False,
                        count,
                        entry.seq,
                        f"item {entry.item_id} is recorded deleted twice (entry {first} too)",
                    )
            prev = entry.entry_hash
            expected_seq += 1
            count += 1
    finally:
        result.close()
    if expected_head is not None and expected_head.seq > count:
        return LedgerVerdict(
            False,
            count,
            count + 1,
            f"entries after {count} are missing (a report saw {expected_head.seq})",
        )
    if expected_head is not None and expected_head.seq and expected_head.seq <= count:
        recorded = session.get(LedgerEntry, expected_head.seq)
        if recorded is None or recorded.entry_hash != expected_head.entry_hash:
            return LedgerVerdict(
                False, count, expected_head.seq, "differs from the head a report saw"
            )
    return LedgerVerdict(True, count)
