"""`gallra doctor`: blobs without rows, rows without blobs, tampered bytes; safe repair."""

from __future__ import annotations

import io
import os
import time

from sqlmodel import Session, select

from gallra.settings import get_settings
from gallra.wiring import App
from models.tables import LedgerEntry
from storage.registry import add_subject
from tests.conftest import Cli
from tests.factory import make_item


def test_doctor_finds_mismatches_and_repairs_only_what_is_safe(cli: Cli) -> None:
    gallra = App(settings=get_settings(cli.home))
    with gallra.session() as s:
        person = add_subject(s, display_name="Dag")
        assert person.id
        kept = make_item(s, gallra.blobs, gallra.policy, text="oförändrad", subjects=[person.id])
        lost = make_item(s, gallra.blobs, gallra.policy, text="borttappad", subjects=[person.id])
        altered = make_item(s, gallra.blobs, gallra.policy, text="ändrad", subjects=[person.id])
    clean = cli("doctor", "--verify", "--json")
    assert clean.code == 0 and clean.json()["integrity"]["verified"] == 3
    gallra.blobs.put("mail/ol/old-orphan", io.BytesIO(b"left behind by a crash"))
    gallra.blobs.put("mail/ne/new-orphan", io.BytesIO(b"an ingest still running"))
    old = time.time() - 3 * 86400
    os.utime(gallra.settings.blob_path / "mail/ol/old-orphan", (old, old))
    gallra.blobs.delete([lost.blob_key])
    (gallra.settings.blob_path / altered.blob_key).write_bytes(b"tampered")
    found = cli("doctor", "--verify", "--json")
    assert found.code == 1
    integrity = found.json()["integrity"]
    assert integrity["orphan_blobs"] == ["mail/ne/new-orphan", "mail/ol/old-orphan"]
    assert integrity["missing_blobs"] == [lost.id]
    assert integrity["corrupt"] == [altered.id]
    repaired = cli("doctor", "--repair", "--json").json()["integrity"]
    assert repaired["orphans_deleted"] == ["mail/ol/old-orphan"]
    assert repaired["orphans_in_grace"] == ["mail/ne/new-orphan"]
    assert repaired["missing_blobs"] == [lost.id]  # reported, never dropped from the index
    assert not gallra.blobs.exists("mail/ol/old-orphan") and gallra.blobs.exists(kept.blob_key)
    with Session(gallra.engine) as s:
        [entry] = s.exec(select(LedgerEntry).where(LedgerEntry.action == "orphan-blob-deleted"))
        assert "old-orphan" in entry.detail
    assert cli("ledger", "verify").code == 0
