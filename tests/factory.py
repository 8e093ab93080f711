"""Building test items the way ingest does: bytes stored first, then the row."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

from sqlmodel import Session

from models.enums import ItemKind, LegalBasis, ParseStatus
from models.policy import Policy
from models.tables import Item
from storage.blobs import BlobStore
from storage.items import add_item, link_subjects, set_text, stamp_expiry


def make_item(
    session: Session,
    blobs: BlobStore,
    policy: Policy,
    *,
    text: str,
    subjects: list[int],
    received: datetime = datetime(2025, 5, 1, 10, 0, tzinfo=UTC),
    purpose: str = "agreement",
    basis: LegalBasis = LegalBasis.CONTRACT,
    kind: ItemKind = ItemKind.EMAIL,
    blob_key: str | None = None,
) -> Item:
    """Store `text` as a blob, index it, tie it to `subjects` and stamp its expiry."""
    key = blob_key or f"t/{uuid.uuid4().hex}"
    stored = blobs.put(key, io.BytesIO(text.encode("utf-8")))
    item = add_item(
        session,
        stored=stored,
        kind=kind,
        source="test",
        received_at=received,
        purpose=purpose,
        legal_basis=basis,
        parse_status=ParseStatus.OK,
    )
    assert item.id is not None
    link_subjects(session, item_id=item.id, links=[(s, "to", "test") for s in subjects])
    set_text(session, item_id=item.id, body=text)
    stamp_expiry(session, policy, item=item, subject_ids=subjects)
    return item
