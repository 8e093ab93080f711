"""The key store: every data key, only ever wrapped, in its own database.

Hierarchy: the master key (env var or key file, never stored here) wraps
each subject's key; a blob's data key is wrapped by the key of every
subject the blob belongs to, or by the master key while it belongs to no
one (just stored, not yet tagged, an export of the index). Destroying a
subject's key therefore makes every copy of their blobs unreadable at once
(crypto-shredding), wherever the copies are, while a blob shared with
someone else stays readable through that person's key.

The key store lives apart from the index (its own SQLite file or database)
so that a copy or backup of the index never carries keys, and it is never
put in the blob store or in an index backup. Destroyed rows are zeroed in
the file (secure_delete) and the WAL is truncated after a destruction.
A tombstone (subject id, when, the subject's creation time) remains so a
restored index can replay deletions made after its backup was taken.

One module (about 570 lines) because the key tree's invariants (wrap, rewrap
on rotation, shred, replace a key nobody holds) hold across its tables and are
read together.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from models.types import UTCDateTime
from storage.errors import KeyUnavailable, MasterKeyError

__all__ = ["MASTER", "KeyStore", "MasterKey", "new_master_key"]

MASTER = 0  # holder id of the master key (subject ids start at 1)
_BATCH = 500  # keys per statement: an IN list stays well under SQLite's variable limit


T = TypeVar("T")


def _chunks(keys: Sequence[T]) -> Iterator[list[T]]:
    """`keys` in runs of at most _BATCH, in order (one statement each)."""
    for start in range(0, len(keys), _BATCH):
        yield list(keys[start : start + _BATCH])


metadata = MetaData()
keystore_info = Table(
    "keystore_info",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("master_fingerprint", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
subject_key = Table(
    "subject_key",
    metadata,
    Column("subject_id", Integer, primary_key=True, autoincrement=False),
    Column("wrapped", LargeBinary, nullable=True),  # NULL once destroyed
    Column("created_at", UTCDateTime, nullable=False),
    Column("destroyed_at", UTCDateTime, nullable=True),
    Column("subject_deleted_at", UTCDateTime, nullable=True),
    Column("subject_created_at", String(40), nullable=True),
)
data_key = Table(
    "data_key",
    metadata,
    Column("blob_key", String(512), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)
data_key_wrap = Table(
    "data_key_wrap",
    metadata,
    Column(
        "blob_key",
        String(512),
        ForeignKey("data_key.blob_key", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("holder", Integer, primary_key=True, autoincrement=False),
    Column("wrapped", LargeBinary, nullable=False),
    Index("ix_data_key_wrap_holder", "holder"),
)


def _wrap(kek: bytes, secret: bytes, label: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(kek).encrypt(nonce, secret, label.encode("utf-8"))


def _unwrap(kek: bytes, wrapped: bytes, label: str) -> bytes:
    return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], label.encode("utf-8"))


def new_master_key() -> str:
    """A fresh master key as text (URL-safe base64 of 32 random bytes)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


@dataclass(frozen=True)
class MasterKey:
    """The key that wraps every other key; held only in memory."""

    key: bytes

    @classmethod
    def parse(cls, text: str, *, where: str) -> MasterKey:
        """From its text form; MasterKeyError naming `where` (never the value) otherwise."""
        try:
            key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise MasterKeyError(f"master key from {where}: not base64") from None
        if len(key) != 32:
            raise MasterKeyError(f"master key from {where}: must be 32 bytes (base64 of them)")
        return cls(key)

    @property
    def fingerprint(self) -> str:
        """Names the key without revealing it."""
        return hmac.new(self.key, b"gallra master key id", hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"MasterKey({self.fingerprint})"


def _subject_label(subject_id: int) -> str:
    return f"gallra:subject-key:{subject_id}"


def _data_label(blob_key: str, holder: int) -> str:
    return f"gallra:data-key:{holder}:{blob_key}"


class KeyStore:
    """Data keys, subject keys and tombstones over one engine (see the module doc)."""

    def __init__(self, engine: Engine, master: MasterKey) -> None:
        self.engine = engine
        self.master = master

    # -- set-up and the master key -------------------------------------------------

    def create(self, now: datetime) -> None:
        """Create the tables (idempotent) and record which master key they are under."""
        metadata.create_all(self.engine)
        with self.engine.begin() as db:
            row = db.execute(select(keystore_info.c.master_fingerprint)).first()
            if row is None:
                db.execute(
                    insert(keystore_info).values(
                        id=1, master_fingerprint=self.master.fingerprint, created_at=now
                    )
                )

    def exists(self) -> bool:
        """Whether the tables were created."""
        from sqlalchemy import inspect

        return inspect(self.engine).has_table("keystore_info")

    def recorded_fingerprint(self) -> str | None:
        """The fingerprint of the master key the store is under (None before `create`)."""
        with self.engine.connect() as db:
            return db.execute(select(keystore_info.c.master_fingerprint)).scalar_one_or_none()

    def check_master(self) -> None:
        """MasterKeyError unless this is the master key the store was made with."""
        recorded = self.recorded_fingerprint()
        if recorded is None:
            raise MasterKeyError("key store: not initialised; run `gallra init`")
        if recorded != self.master.fingerprint:
            raise MasterKeyError(
                f"master key {self.master.fingerprint} is not the key store's ({recorded}); "
                "give the right key (GALLRA_MASTER_KEY or the key file)"
            )

    def rotate(self, new: MasterKey) -> dict[str, int]:
        """Rewrap every subject key and master-held data key under `new`, in one transaction.

        Blobs are not touched: their data keys do not change.
        """
        self.check_master()
        counts = {"subject_keys": 0, "data_keys": 0}
        with self.engine.begin() as db:
            for subject_id, wrapped in db.execute(
                select(subject_key.c.subject_id, subject_key.c.wrapped).where(
                    subject_key.c.wrapped.is_not(None)
                )
            ).all():
                secret = self._unwrap_master(wrapped, _subject_label(subject_id))
                db.execute(
                    update(subject_key)
                    .where(subject_key.c.subject_id == subject_id)
                    .values(wrapped=_wrap(new.key, secret, _subject_label(subject_id)))
                )
                counts["subject_keys"] += 1
            for blob_key, wrapped in db.execute(
                select(data_key_wrap.c.blob_key, data_key_wrap.c.wrapped).where(
                    data_key_wrap.c.holder == MASTER
                )
            ).all():
                label = _data_label(blob_key, MASTER)
                secret = self._unwrap_master(wrapped, label)
                db.execute(
                    update(data_key_wrap)
                    .where(data_key_wrap.c.blob_key == blob_key, data_key_wrap.c.holder == MASTER)
                    .values(wrapped=_wrap(new.key, secret, label))
                )
                counts["data_keys"] += 1
            db.execute(update(keystore_info).values(master_fingerprint=new.fingerprint))
        self.master = new
        return counts

    def _unwrap_master(self, wrapped: bytes, label: str) -> bytes:
        try:
            return _unwrap(self.master.key, wrapped, label)
        except InvalidTag:
            raise MasterKeyError(
                "key store: a key does not unwrap under this master key (wrong key or altered row)"
            ) from None

    # -- subject keys --------------------------------------------------------------

    def live_subject_keys(self) -> set[int]:
        """Subjects whose key exists (not destroyed)."""
        with self.engine.connect() as db:
            return set(
                db.execute(
                    select(subject_key.c.subject_id).where(subject_key.c.wrapped.is_not(None))
                ).scalars()
            )

    def destroy_subject_keys(
        self,
        subject_ids: Iterable[int],
        now: datetime,
        *,
        deleted: Mapping[int, str] | None = None,
    ) -> list[int]:
        """Destroy these subjects' keys (and their wraps); return those destroyed now.

        `deleted` (subject id -> the subject's creation time) marks subjects
        whose index entry is gone too, for replay after a restore.
        """
        ids = sorted(set(subject_ids) | set(deleted or {}))
        destroyed: list[int] = []
        with self.engine.begin() as db:
            for subject_id in ids:
                row = db.execute(
                    select(subject_key.c.wrapped).where(subject_key.c.subject_id == subject_id)
                ).first()
                marks: dict[str, object] = {}
                if deleted and subject_id in deleted:
                    marks = {"subject_deleted_at": now, "subject_created_at": deleted[subject_id]}
                if row is None:
                    if marks:
                        db.execute(
                            insert(subject_key).values(
                                subject_id=subject_id,
                                wrapped=None,
                                created_at=now,
                                destroyed_at=now,
                                **marks,
                            )
                        )
                    continue
                db.execute(delete(data_key_wrap).where(data_key_wrap.c.holder == subject_id))
                if row.wrapped is not None:
                    destroyed.append(subject_id)
                    marks.update(wrapped=None, destroyed_at=now)
                if marks:
                    db.execute(
                        update(subject_key)
                        .where(subject_key.c.subject_id == subject_id)
                        .values(**marks)
                    )
        self.scrub()
        return destroyed

    def deleted_subjects(self) -> dict[int, str]:
        """Tombstones of subjects deleted from the index: id -> their creation time."""
        with self.engine.connect() as db:
            return {
                row.subject_id: row.subject_created_at or ""
                for row in db.execute(
                    select(subject_key.c.subject_id, subject_key.c.subject_created_at).where(
                        subject_key.c.subject_deleted_at.is_not(None)
                    )
                )
            }

    # -- data keys ------------------------------------------------------------------

    def data_keys_for_write(self, blob_keys: Iterable[str], now: datetime) -> dict[str, bytes]:
        """The data key of each blob, made (and durably committed) when it has none.

        Another process may make the same blob's key at the same moment (two
        mailboxes holding one message): the loser of the race reads the
        winner's key. A key left with no holder (its person's key destroyed,
        the blob gone) is replaced.
        """
        wanted = sorted(set(blob_keys))
        for attempt in range(3):
            found: dict[str, bytes] = {}
            for part in _chunks(wanted):
                found.update(self._readable(part, missing_ok=True))
            fresh = {key: os.urandom(32) for key in wanted if key not in found}
            if not fresh:
                return found
            try:
                self._insert_data_keys(fresh, now)
            except (IntegrityError, OperationalError):  # lost a race: read again
                if attempt == 2:
                    raise
                continue
            return {**found, **fresh}
        raise AssertionError("unreachable")

    def _insert_data_keys(self, fresh: dict[str, bytes], now: datetime) -> None:
        keys = list(fresh)
        with self.engine.begin() as db:
            for part in _chunks(keys):
                held = select(data_key_wrap.c.blob_key).where(data_key_wrap.c.blob_key.in_(part))
                db.execute(
                    delete(data_key).where(
                        data_key.c.blob_key.in_(part), data_key.c.blob_key.not_in(held)
                    )
                )
            db.execute(insert(data_key), [{"blob_key": k, "created_at": now} for k in keys])
            db.execute(
                insert(data_key_wrap),
                [
                    {
                        "blob_key": k,
                        "holder": MASTER,
                        "wrapped": _wrap(self.master.key, secret, _data_label(k, MASTER)),
                    }
                    for k, secret in fresh.items()
                ],
            )

    def data_key(self, blob_key: str) -> bytes:
        """The data key to read a blob; KeyUnavailable when it is destroyed or unknown."""
        return self._readable([blob_key], missing_ok=False)[blob_key]

    def _readable(self, blob_keys: list[str], *, missing_ok: bool) -> dict[str, bytes]:
        wraps: dict[str, dict[int, bytes]] = {}
        with self.engine.connect() as db:
            for key, holder, wrapped in db.execute(
                select(
                    data_key_wrap.c.blob_key, data_key_wrap.c.holder, data_key_wrap.c.wrapped
                ).where(data_key_wrap.c.blob_key.in_(blob_keys))
            ):
                wraps.setdefault(key, {})[holder] = wrapped
            people = self._subject_keys_in(
                db, {h for have in wraps.values() for h in have} - {MASTER}
            )
        out = {
            key: secret
            for key, have in wraps.items()
            if (secret := self._unwrap_any(key, have, people)) is not None
        }
        if not missing_ok:
            for key in blob_keys:
                if key not in out:
                    raise KeyUnavailable(
                        f"blob {key}: no data key (destroyed by erasure or retention, "
                        "or never recorded): its bytes cannot be decrypted"
                    )
        return out

    def holders(self, blob_keys: Iterable[str] | None = None) -> dict[str, set[int]]:
        """Who holds each blob's data key (MASTER or subject ids); all blobs when None."""
        out: dict[str, set[int]] = {}
        with self.engine.connect() as db:
            query = select(data_key_wrap.c.blob_key, data_key_wrap.c.holder)
            if blob_keys is None:
                rows = db.execute(query).all()
            else:
                keys = sorted(set(blob_keys))
                rows = []
                for part in _chunks(keys):
                    rows += db.execute(query.where(data_key_wrap.c.blob_key.in_(part))).all()
        for key, holder in rows:
            out.setdefault(key, set()).add(holder)
        return out

    def blob_keys_held_by(self, subject_ids: Iterable[int]) -> set[str]:
        """Blobs whose data key is wrapped by any of these subjects' keys."""
        ids = sorted(set(subject_ids))
        if not ids:
            return set()
        with self.engine.connect() as db:
            return set(
                db.execute(
                    select(data_key_wrap.c.blob_key).where(data_key_wrap.c.holder.in_(ids))
                ).scalars()
            )

    def bind(self, desired: Mapping[str, set[int]], now: datetime) -> int:
        """Make each blob's data key held by exactly these subjects (MASTER when none).

        New wraps are added before old ones go, in one transaction: a key is
        never left without a holder. A few statements per 500 blobs, however
        many people. A concurrent bind of the same blobs makes this one
        start again from what it then finds. Returns how many blobs changed.
        """
        keys = sorted(desired)
        for attempt in range(3):
            changed = 0
            try:
                with self.engine.begin() as db:
                    for part in _chunks(keys):
                        changed += self._bind_part(db, {k: desired[k] for k in part}, now)
            except (IntegrityError, OperationalError):  # lost a race: read again
                if attempt == 2:
                    raise
                continue
            return changed
        raise AssertionError("unreachable")

    def _bind_part(self, db: Connection, desired: Mapping[str, set[int]], now: datetime) -> int:
        current: dict[str, dict[int, bytes]] = {}
        for key, holder, wrapped in db.execute(
            select(data_key_wrap.c.blob_key, data_key_wrap.c.holder, data_key_wrap.c.wrapped).where(
                data_key_wrap.c.blob_key.in_(list(desired))
            )
        ):
            current.setdefault(key, {})[holder] = wrapped
        plan: dict[str, tuple[set[int], dict[int, bytes]]] = {}
        for key, subjects in desired.items():
            want = set(subjects) or {MASTER}
            have = current.get(key)
            if have and set(have) != want:  # no data key: plaintext or gone
                plan[key] = (want, have)
        if not plan:
            return 0
        people = {h for want, have in plan.values() for h in (want | set(have))} - {MASTER}
        secrets = self._subject_keys_in(db, people)
        fresh = {
            h: os.urandom(32)
            for want, _ in plan.values()
            for h in want - {MASTER}
            if secrets.get(h) is None
        }
        if fresh:
            self._store_subject_keys(db, fresh, now)
            secrets.update(fresh)
        added: list[dict[str, object]] = []
        dropped: dict[int, list[str]] = {}
        for key, (want, have) in plan.items():
            secret = self._unwrap_any(key, have, secrets)
            if secret is None:
                raise KeyUnavailable(f"blob {key}: no usable data key to rebind")
            for holder in sorted(want - set(have)):
                kek = self.master.key if holder == MASTER else secrets[holder]
                assert kek is not None
                label = _data_label(key, holder)
                added.append(
                    {"blob_key": key, "holder": holder, "wrapped": _wrap(kek, secret, label)}
                )
            for holder in set(have) - want:
                dropped.setdefault(holder, []).append(key)
        if added:
            db.execute(insert(data_key_wrap), added)
        for holder, gone in dropped.items():
            db.execute(
                delete(data_key_wrap).where(
                    and_(data_key_wrap.c.holder == holder, data_key_wrap.c.blob_key.in_(gone))
                )
            )
        return len(plan)

    def _subject_keys_in(self, db: Connection, ids: set[int]) -> dict[int, bytes | None]:
        """Unwrapped keys of these subjects (None: destroyed or never made)."""
        found: dict[int, bytes | None] = dict.fromkeys(ids)
        ordered = sorted(ids)
        for part in _chunks(ordered):
            for subject_id, wrapped in db.execute(
                select(subject_key.c.subject_id, subject_key.c.wrapped).where(
                    subject_key.c.subject_id.in_(part)
                )
            ):
                if wrapped is not None:
                    found[subject_id] = self._unwrap_master(wrapped, _subject_label(subject_id))
        return found

    def _store_subject_keys(self, db: Connection, fresh: dict[int, bytes], now: datetime) -> None:
        """Insert new subject keys, or replace destroyed ones (their tombstones cleared)."""
        existing = set(
            db.execute(
                select(subject_key.c.subject_id).where(subject_key.c.subject_id.in_(list(fresh)))
            ).scalars()
        )
        values = {
            subject_id: {
                "wrapped": _wrap(self.master.key, secret, _subject_label(subject_id)),
                "created_at": now,
                "destroyed_at": None,
                "subject_deleted_at": None,
                "subject_created_at": None,
            }
            for subject_id, secret in fresh.items()
        }
        new = [{"subject_id": i, **v} for i, v in values.items() if i not in existing]
        if new:
            db.execute(insert(subject_key), new)
        for subject_id in existing:
            db.execute(
                update(subject_key)
                .where(subject_key.c.subject_id == subject_id)
                .values(**values[subject_id])
            )

    def _unwrap_any(
        self, blob_key: str, have: Mapping[int, bytes], secrets: Mapping[int, bytes | None]
    ) -> bytes | None:
        """The data key through any holder whose key remains (None: every one destroyed)."""
        for holder, wrapped in sorted(have.items()):
            label = _data_label(blob_key, holder)
            if holder == MASTER:
                return self._unwrap_master(wrapped, label)
            kek = secrets.get(holder)
            if kek is None:
                continue  # that person's key is destroyed; another holder may remain
            try:
                return _unwrap(kek, wrapped, label)
            except InvalidTag:
                raise MasterKeyError(f"key store: data key of blob {blob_key} is altered") from None
        return None

    def forget(self, blob_keys: Iterable[str]) -> None:
        """Destroy the data keys of deleted blobs (idempotent)."""
        keys = sorted(set(blob_keys))
        if not keys:
            return
        with self.engine.begin() as db:
            for part in _chunks(keys):
                db.execute(delete(data_key_wrap).where(data_key_wrap.c.blob_key.in_(part)))
                db.execute(delete(data_key).where(data_key.c.blob_key.in_(part)))

    def data_keys(self) -> dict[str, datetime]:
        """Every recorded data key's blob key and creation time."""
        with self.engine.connect() as db:
            return {row.blob_key: row.created_at for row in db.execute(select(data_key))}

    def scrub(self) -> None:
        """Leave no destroyed key in the WAL of a SQLite key store."""
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as db:
                db.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
