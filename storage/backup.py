"""Encrypted index backups in the blob store, their retention, and restoring one.

A backup is a consistent snapshot of the index (SQLite's online backup
API, or `pg_dump --format=custom` for PostgreSQL) written through the
encrypting blob store under ``backups/index-<UTC time>.<kind>``: it gets its
own data key, held by the master key, and that key is destroyed when the
backup is deleted at the end of its retention. So an erased person
remains in backups for at most the retention period, and after it any
leftover copy is ciphertext whose key no longer exists.

The key store is never part of a backup: a copy of a key would outlive
every erasure.

Restoring brings an old index back, so `replay_after_restore` re-applies
what happened since: an item whose blob is gone and whose data key was
destroyed was deleted after the backup and is removed again; a person the
key store records as deleted is deleted again. A blob missing while its key
remains is reported by `gallra doctor`, never silently dropped.

Over 300 lines because writing a backup, restoring it and re-applying what was
deleted since are one recovery story for two engines.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, BinaryIO, cast

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from models.tables import Item, Subject
from storage import ledger
from storage.blobs import CHUNK, BlobStore, StoredBlob
from storage.engine import transaction
from storage.errors import StorageError
from storage.keystore import KeyStore
from storage.subject_sweep import delete_subject
from storage.sweep import remove_item_rows
from storage.temporaries import owned_name

__all__ = [
    "BACKUP_PREFIX",
    "BackupInfo",
    "ReplayReport",
    "list_backups",
    "prune_backups",
    "replay_after_restore",
    "restore_index",
    "write_backup",
]

BACKUP_PREFIX = "backups/"
_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class BackupInfo:
    """One backup in the store."""

    key: str
    taken_at: datetime
    kind: str  # "sqlite" or "pgdump"
    size: int = 0


def _kind(index_url: str) -> str:
    return "sqlite" if index_url.startswith("sqlite") else "pgdump"


def _sqlite_path(index_url: str) -> Path:
    database = make_url(index_url).database
    if not database or database == ":memory:":
        raise StorageError("backup: an in-memory SQLite index cannot be backed up")
    return Path(database)


def _libpq(index_url: str) -> tuple[str, dict[str, str]]:
    """The URL pg_dump understands, without its password, and the child's environment.

    The password travels in the child's own environment (PGPASSWORD), never on
    its argument vector, which `ps` shows every user of the machine.
    """
    url = make_url(index_url).set(drivername="postgresql")
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
        url = url._replace(password=None)  # URL.set treats None as "unchanged"
    return url.render_as_string(hide_password=False), env


@contextlib.contextmanager
def _private_temp(work: Path) -> Iterator[Path]:
    """A temp file path in a 0700 folder beside the index; removed afterwards."""
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = work / owned_name()
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def write_backup(
    engine: Engine, index_url: str, blobs: BlobStore, now: datetime, work: Path
) -> BackupInfo:
    """Snapshot the index into the (encrypting) blob store; ledgered by key and size."""
    kind = _kind(index_url)
    key = f"{BACKUP_PREFIX}index-{now.astimezone(UTC).strftime(_STAMP)}.{kind}"
    if kind == "sqlite":
        with _private_temp(work) as tmp:
            source = sqlite3.connect(_sqlite_path(index_url))
            target = sqlite3.connect(tmp)
            try:
                tmp.chmod(0o600)
                source.backup(target)
            finally:
                target.close()
                source.close()
            with tmp.open("rb") as handle:
                stored = blobs.put(key, handle)
    else:
        stored = _pg_dump_into(blobs, key, index_url)
    with transaction(engine) as session:
        ledger.append(
            session,
            at=now,
            action="index-backup-written",
            detail={"key": key, "size": stored.size, "sha256": stored.sha256},
        )
    return BackupInfo(key=key, taken_at=now, kind=kind, size=stored.size)


def _tool(name: str) -> str:
    """The path of a PostgreSQL client program, or StorageError naming it and the fix."""
    found = shutil.which(name)
    if found is None:
        raise StorageError(
            f"{name}: not found on PATH; install the PostgreSQL client programs of the "
            "server's major version (Debian: postgresql-client-15 for PostgreSQL 15)"
        )
    return found


def _pg_dump_into(blobs: BlobStore, key: str, index_url: str) -> StoredBlob:
    """Stream pg_dump's output straight into the store (no plaintext file)."""
    dbname, env = _libpq(index_url)
    with subprocess.Popen(
        [_tool("pg_dump"), "--format=custom", "--no-owner", "--dbname", dbname],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        stderr = process.stderr
        errors: list[bytes] = []  # drained so pg_dump never blocks; not shown (may name tables)
        reader = threading.Thread(target=lambda: errors.append(stderr.read()))
        reader.start()
        try:
            stored = blobs.put(key, cast(BinaryIO, process.stdout))
        finally:
            process.stdout.close()
            code = process.wait()
            reader.join()
    if code != 0:
        blobs.delete([key])
        raise StorageError(f"backup: pg_dump failed with exit code {code}")
    return stored


def list_backups(blobs: BlobStore) -> list[BackupInfo]:
    """Every backup in the store, oldest first (names not made by gallra are ignored)."""
    found: list[BackupInfo] = []
    for key in blobs.keys(BACKUP_PREFIX):
        name = key.removeprefix(BACKUP_PREFIX)
        stem, _, kind = name.partition(".")
        try:
            taken = datetime.strptime(stem.removeprefix("index-"), _STAMP).replace(tzinfo=UTC)
        except ValueError:
            continue
        found.append(BackupInfo(key=key, taken_at=taken, kind=kind))
    return sorted(found, key=lambda b: b.taken_at)


def prune_backups(
    engine: Engine, blobs: BlobStore, now: datetime, retention: timedelta
) -> list[str]:
    """Delete backups older than `retention` (with their keys); verified and ledgered."""
    old = [b.key for b in list_backups(blobs) if now - b.taken_at > retention]
    if not old:
        return []
    outcome = blobs.delete(old)
    gone = sorted(set(outcome.deleted) - blobs.remaining(outcome.deleted))
    with transaction(engine) as session:
        for key in gone:
            ledger.append(
                session,
                at=now,
                action="index-backup-deleted",
                detail={"key": key, "verified": ["blob-absent", "data-key-destroyed"]},
            )
    if len(gone) < len(old):
        raise StorageError(f"backup prune: {len(old) - len(gone)} old backups could not be deleted")
    return gone


def restore_index(engine: Engine, index_url: str, blobs: BlobStore, key: str) -> None:
    """Replace the index with the backup under `key` (decrypted and checked first).

    Nothing else may use the index meanwhile (stop the web page and the
    nightly timer first).
    """
    if _kind(index_url) != key.rsplit(".", 1)[-1]:
        raise StorageError(f"restore: backup {key} is not a {_kind(index_url)} backup")
    if _kind(index_url) == "pgdump":
        _pg_restore_from(blobs, key, index_url)
        return
    path = _sqlite_path(index_url)
    tmp = path.with_name(f".restore-{uuid.uuid4().hex}")
    try:
        with blobs.open(key) as stream, tmp.open("xb") as out:
            tmp.chmod(0o600)
            shutil.copyfileobj(stream, out, CHUNK)
        check = sqlite3.connect(tmp)
        try:
            verdict = check.execute("PRAGMA integrity_check").fetchone()
        finally:
            check.close()
        if not verdict or verdict[0] != "ok":
            raise StorageError(f"restore: backup {key} fails SQLite's integrity check")
        _carry_job_locks(engine, tmp)
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _carry_job_locks(engine: Engine, restored: Path) -> None:
    """Copy the live job locks into the restored file, so the restore's own lock holds on.

    The restore runs under the exclusive lock (storage.locks); on SQLite that
    lock is a row of the very file being replaced.
    """
    with engine.connect() as connection:
        if not inspect(connection).has_table("joblock"):
            return
        rows = connection.exec_driver_sql("SELECT name, holder, expires_at FROM joblock").all()
    target = sqlite3.connect(restored)
    try:
        has = target.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'joblock'"
        ).fetchone()
        if has:
            target.execute("DELETE FROM joblock")
            target.executemany("INSERT INTO joblock VALUES (?, ?, ?)", [tuple(r) for r in rows])
            target.commit()
    finally:
        target.close()


def _pg_restore_from(blobs: BlobStore, key: str, index_url: str) -> None:
    dbname, env = _libpq(index_url)
    with subprocess.Popen(
        [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--dbname",
            dbname,
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as process:
        sink = cast(IO[bytes], process.stdin)
        try:
            with blobs.open(key) as stream:
                shutil.copyfileobj(stream, sink, CHUNK)
        finally:
            sink.close()
        code = process.wait()
    if code != 0:
        raise StorageError(f"restore: pg_restore failed with exit code {code}")


@dataclass
class ReplayReport:
    """What a restore re-applied (ids only)."""

    items_removed: list[int] = field(default_factory=list)
    subjects_removed: list[int] = field(default_factory=list)


def replay_after_restore(
    engine: Engine,
    blobs: BlobStore,
    keystore: KeyStore | None,
    now: datetime,
    hash_key: bytes | None,
) -> ReplayReport:
    """Re-apply deletions made after the restored backup (see the module doc).

    Without a key store (encryption off) nothing tells a deleted blob from
    a lost one: nothing is replayed and `gallra doctor` reports both.
    """
    report = ReplayReport()
    if keystore is None:
        return report
    with Session(engine) as session:
        rows = list(session.exec(select(Item.id, Item.blob_key)))
    present = blobs.remaining({key for _, key in rows})
    keyed = set(keystore.holders({key for _, key in rows if key not in present}))
    gone = sorted(i for i, key in rows if key not in present and key not in keyed and i)
    tombstones = keystore.deleted_subjects()
    with transaction(engine) as session:
        if gone:
            items = list(session.exec(select(Item).where(col(Item.id).in_(gone))))
            remove_item_rows(session, gone)
            for item in items:
                ledger.item_deleted(
                    session,
                    item,
                    at=now,
                    detail={"verified": ["blob-absent", "data-key-absent"], "replayed": True},
                )
        report.items_removed = gone
        for subject in session.exec(
            select(Subject).where(col(Subject.id).in_(list(tombstones)))
        ).all():
            assert subject.id is not None
            created = tombstones[subject.id]
            if created and created != subject.created_at.isoformat():
                continue  # the id was reused by someone else
            delete_subject(session, subject, now, hash_key, replayed=True)
            report.subjects_removed.append(subject.id)
    return report
