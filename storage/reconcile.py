"""Reconciling the index with the blob store, and verifying every blob's bytes.

Finds blobs no row points to (an ingest that crashed between store and
commit, or a copy left behind), rows whose blob is gone, and, with
`verify`, blobs whose bytes no longer hash to their sha256 (tampering, bit
rot; with encryption every chunk's authentication tag is checked too, and
a blob whose data key is gone cannot be read). `repair` deletes orphan
blobs older than a grace period (younger ones may belong to an ingest still
running), verified and ledgered, and forgets data keys whose blob is gone
past the same grace; a row whose blob is missing is reported, never
silently dropped. Index backups are not orphans.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from models.tables import Item
from storage import ledger
from storage.backup import BACKUP_PREFIX
from storage.blobs import CHUNK, BlobStore
from storage.engine import transaction
from storage.errors import BlobIntegrityError, BlobNotFound, KeyUnavailable
from storage.keystore import KeyStore

__all__ = ["ReconcileReport", "reconcile"]


@dataclass
class ReconcileReport:
    """What does not match (keys are content hashes or opaque ids; no personal data)."""

    blobs: int = 0
    rows: int = 0
    orphan_blobs: list[str] = field(default_factory=list)
    missing_blobs: list[int] = field(default_factory=list)
    corrupt: list[int] = field(default_factory=list)
    key_missing: list[int] = field(default_factory=list)
    newest_backup_ok: bool | None = None  # with verify: None when there is no backup
    orphan_keys: int = 0
    orphan_keys_forgotten: int = 0
    verified: int = 0
    orphans_deleted: list[str] = field(default_factory=list)
    orphans_in_grace: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing missing, nothing corrupt, no orphan left."""
        return not (
            self.orphan_blobs
            or self.missing_blobs
            or self.corrupt
            or self.key_missing
            or self.newest_backup_ok is False
        )


def _sha256_of(blobs: BlobStore, key: str) -> str:
    digest = hashlib.sha256()
    with blobs.open(key) as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_blobs(
    blobs: BlobStore,
    rows: list[tuple[int | None, str, str]],
    present: set[str],
    keys: set[str],
    report: ReconcileReport,
) -> None:
    """Read back every present blob (decrypt, authenticate, re-hash) and the newest backup."""
    checked: dict[str, str] = {}
    for item_id, key, sha in rows:
        if key not in present or item_id is None:
            continue
        if key not in checked:
            try:
                checked[key] = _sha256_of(blobs, key)
            except BlobNotFound:
                report.missing_blobs.append(item_id)
                continue
            except KeyUnavailable:
                checked[key] = "no-key"
            except BlobIntegrityError:
                checked[key] = "tampered"
        if checked[key] == "no-key":
            report.key_missing.append(item_id)
            continue
        report.verified += 1
        if checked[key] != sha:
            report.corrupt.append(item_id)
    newest = max((k for k in keys if k.startswith(BACKUP_PREFIX)), default=None)
    if newest is not None:  # the backup a restore would use reads back whole
        try:
            _sha256_of(blobs, newest)
            report.newest_backup_ok = True
        except (BlobIntegrityError, KeyUnavailable):
            report.newest_backup_ok = False


def reconcile(
    engine: Engine,
    blobs: BlobStore,
    *,
    now: datetime,
    verify: bool = False,
    repair: bool = False,
    grace: timedelta = timedelta(days=1),
    keystore: KeyStore | None = None,
) -> ReconcileReport:
    """Compare the index with the store (see the module doc)."""
    report = ReconcileReport()
    with Session(engine) as session:
        rows = list(session.exec(select(Item.id, Item.blob_key, Item.sha256)))
    report.rows = len(rows)
    keys = set(blobs.keys())
    report.blobs = len(keys)
    wanted = {key for _, key, _ in rows}
    report.orphan_blobs = sorted(
        k for k in keys - wanted if not k.startswith((".tmp/", BACKUP_PREFIX))
    )
    present = blobs.remaining(wanted) if wanted else set()
    report.missing_blobs = sorted(i for i, key, _ in rows if key not in present and i is not None)
    if verify:
        _verify_blobs(blobs, rows, present, keys, report)
    if keystore is not None:
        stale = [
            key
            for key, made in keystore.data_keys().items()
            if key not in keys and now - made >= grace
        ]
        report.orphan_keys = len(stale)
        if repair and stale:
            keystore.forget(stale)
            report.orphan_keys_forgotten = len(stale)
    if repair and report.orphan_blobs:
        old: list[str] = []
        for key in report.orphan_blobs:
            written = blobs.modified(key)
            (
                old if written is not None and now - written >= grace else report.orphans_in_grace
            ).append(key)
        outcome = blobs.delete(old)
        gone = [k for k in outcome.deleted if k not in blobs.remaining(outcome.deleted)]
        with transaction(engine) as session:
            for key in gone:
                ledger.append(
                    session,
                    at=now,
                    action="orphan-blob-deleted",
                    detail={"key": key, "verified": ["blob-absent"]},
                )
        report.orphans_deleted = gone
        report.orphan_blobs = [k for k in report.orphan_blobs if k not in set(gone)]
    return report
