"""A file refused at intake is kept as the archive keeps everything: encrypted, indexed,
tied to its person, and deleted on its own rule.

Quarantine used to be a folder of plaintext copies named after the client's
address, which no sweep or erasure reached. Now the refused bytes are stored
in the blob store like any item (encrypted when encryption is on), as a
document with parse status `quarantined`, purpose `quarantine` (the policy's
quarantine rule: 30 days by default) and the reason in `parse_error`. Its
title is the file's type only: the original name (often an address) is not
kept. Erasure of the person it is tied to deletes it; `doctor` and the
page's problems list show it; the coach can download it to look.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from models.enums import ItemKind, LegalBasis, ParseStatus
from models.errors import InvalidInput
from models.policy import Policy
from models.tables import Item
from storage.blobs import CHUNK, BlobStore
from storage.engine import transaction
from storage.errors import BlobIntegrityError
from storage.items import add_item, link_subjects, stamp_expiry
from storage.sink import sha256_of

__all__ = ["PURPOSE", "store_refused"]

PURPOSE = "quarantine"


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    return suffix if len(suffix) <= 8 and suffix[1:].isalnum() else ""


def store_refused(
    engine: Engine,
    blobs: BlobStore,
    policy: Policy,
    *,
    path: Path,
    source: str,
    reason: str,
    mime: str,
    now: datetime,
    subject_ids: tuple[int, ...],
    tag_reason: str,
) -> int | None:
    """Store a refused file as a quarantined item; its id (None: those bytes already were)."""
    if PURPOSE not in policy.purposes:
        raise InvalidInput(
            f"policy {policy.version}: no {PURPOSE!r} purpose and rule for refused files; "
            "add them as the default policy has them (`gallra policy show`)"
        )
    sha = sha256_of(path)
    with Session(engine) as session:
        known = session.exec(
            select(Item.id).where(Item.sha256 == sha, Item.parse_status == ParseStatus.QUARANTINED)
        ).first()
    if known is not None:
        return None
    key = f"quarantine/{sha[:2]}/{sha}"
    with path.open("rb") as handle:
        stored = blobs.put(key, handle, expected_sha256=sha)
    digest = hashlib.sha256()
    with blobs.open(key) as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != sha:
        raise BlobIntegrityError(f"blob {key}: read-back does not match the refused file")
    with transaction(engine) as session:
        item = add_item(
            session,
            stored=stored,
            kind=ItemKind.DOCUMENT,
            source=source,
            source_ref=f"quarantine:{sha[:16]}",
            received_at=now,
            purpose=PURPOSE,
            legal_basis=LegalBasis.LEGITIMATE_INTEREST,
            title=f"refused-file{_suffix(path)}",
            mime_type=mime,
            provided_by_subject=False,
            parse_status=ParseStatus.QUARANTINED,
        )
        assert item.id is not None
        item.parse_error = reason
        link_subjects(
            session, item_id=item.id, links=[(sid, "recorded", tag_reason) for sid in subject_ids]
        )
        stamp_expiry(session, policy, item=item, subject_ids=list(subject_ids))
        return item.id
