"""Keeping the key store in step with the index: who holds each blob's key, and shredding.

`bind_keys` makes each blob's data key wrapped by exactly the subjects its
items are tagged to (by the master key while they are tagged to no one).
`shred` destroys the key of every subject of whom nothing remains: first
their blobs are rebound (a blob shared with someone else stays readable
through that person), then the key goes, ledgered by opaque id. After that
no copy of their blobs anywhere can be decrypted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models.tables import Item, ItemSubject, Subject
from storage import ledger
from storage.engine import transaction
from storage.keystore import MASTER, KeyStore

__all__ = ["bind_keys", "bind_unassigned", "shred"]

_BATCH = 500


def _desired(engine: Engine, blob_keys: list[str]) -> dict[str, set[int]]:
    """Blob key -> subject ids of its items, for keys some item points at."""
    desired: dict[str, set[int]] = {}
    with Session(engine) as session:
        for start in range(0, len(blob_keys), _BATCH):
            part = blob_keys[start : start + _BATCH]
            rows = session.exec(
                select(Item.blob_key, ItemSubject.subject_id)
                .join(ItemSubject, col(ItemSubject.item_id) == col(Item.id), isouter=True)
                .where(col(Item.blob_key).in_(part))
            )
            for key, subject_id in rows:
                holders = desired.setdefault(key, set())
                if subject_id is not None:
                    holders.add(subject_id)
    return desired


def bind_keys(
    engine: Engine, keystore: KeyStore, now: datetime, blob_keys: Iterable[str] | None = None
) -> int:
    """Rebind these blobs' keys (every blob's when None); blobs no item points at are left."""
    keys = sorted(keystore.holders().keys() if blob_keys is None else set(blob_keys))
    return keystore.bind(_desired(engine, keys), now) if keys else 0


def bind_unassigned(engine: Engine, keystore: KeyStore, now: datetime) -> int:
    """Rebind the blobs whose key is still held by the master key (after an ingest)."""
    return bind_keys(engine, keystore, now, keystore.blob_keys_held_by([MASTER]))


def shred(
    engine: Engine,
    keystore: KeyStore,
    now: datetime,
    *,
    deleted_subjects: Mapping[int, str] | None = None,
) -> list[int]:
    """Destroy the keys of subjects with no item left; returns their ids."""
    live = keystore.live_subject_keys()
    with Session(engine) as session:
        with_items = set(
            session.exec(
                select(ItemSubject.subject_id).where(col(ItemSubject.subject_id).in_(live))
            )
        )
        existing = set(session.exec(select(Subject.id).where(col(Subject.id).in_(live))))
    empty = live - with_items
    tombstones = dict(deleted_subjects or {})
    for subject_id in empty - existing:
        tombstones.setdefault(subject_id, "")
    if not empty and not tombstones:
        return []
    bind_keys(engine, keystore, now, keystore.blob_keys_held_by(empty))
    destroyed = keystore.destroy_subject_keys(empty, now, deleted=tombstones)
    if destroyed:
        with transaction(engine) as session:
            for subject_id in destroyed:
                ledger.append(
                    session,
                    at=now,
                    action="subject-key-destroyed",
                    detail={"subject_id": subject_id, "verified": ["key-absent"]},
                )
    return destroyed
