"""Encryption at rest through the command line: nothing readable in the store,
crypto-shredding against pre-erasure copies, tamper detection, rotation, backups."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import select

from gallra.settings import get_settings
from gallra.wiring import App
from models.tables import Identifier, Item, ItemSubject, LedgerEntry
from storage.encrypted import EncryptedBlobStore
from storage.errors import KeyUnavailable
from storage.local import LocalBlobStore
from storage.s3 import S3BlobStore
from tests.conftest import Cli, new_bucket
from tests.servers import postgres_database

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PHRASE = "Sömnen blev sämre efter flytten till Västerås"
DAY = "2026-11-30"


def _eml(n: int, sender: str, to: str, body: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: Samtal {n}\r\n"
        f"Date: Mon, 30 Nov 2026 09:{n:02d}:00 +0100\r\n"
        f"Message-ID: <krypto-{n}@example.se>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"{body}\r\n"
    ).encode()


def _mailbox(folder: Path) -> Path:
    """Two invented people: Anna alone (2), Bo alone (1), and one to both."""
    folder.mkdir()
    coach = "coach@example.org"
    anna, bo = "Anna Öhrn <anna.ohrn@example.se>", "Bo Lind <bo.lind@example.se>"
    mails = [
        _eml(1, anna, coach, f"Hej! {PHRASE}. Kan vi ses på tisdag?"),
        _eml(2, anna, coach, "Jag glömde berätta om mardrömmarna."),
        _eml(3, bo, coach, "Tack för samtalet om jobbet."),
        _eml(4, coach, "anna.ohrn@example.se, bo.lind@example.se", "Gruppträff på torsdag."),
    ]
    for n, raw in enumerate(mails, 1):
        (folder / f"{n}.eml").write_bytes(raw)
    assert PHRASE.encode() in mails[0]
    return folder


@pytest.fixture
def practice(cli: Cli, tmp_path: Path) -> Iterator[tuple[Cli, App]]:
    cli.now = DAY
    with (cli.home / "gallra.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[mail]\nown_addresses = ["coach@example.org"]\n')
    ingested = cli("ingest", "mail", "--eml-dir", str(_mailbox(tmp_path / "mail")), "--json")
    assert ingested.code == 0, ingested.err
    assert ingested.json()["new"] == 4
    gallra = App(settings=get_settings(cli.home))
    yield cli, gallra
    gallra.close()


def _subject(gallra: App, address: str) -> int:
    with gallra.session() as s:
        return s.exec(select(Identifier.subject_id).where(Identifier.value == address)).one()


def _items_of(gallra: App, subject_id: int) -> dict[int, str]:
    with gallra.session() as s:
        return dict(
            s.exec(
                select(Item.id, Item.blob_key)
                .join(ItemSubject, ItemSubject.item_id == Item.id)  # type: ignore[arg-type]
                .where(ItemSubject.subject_id == subject_id)
            ).all()
        )


def _read(store: EncryptedBlobStore | App, key: str) -> bytes:
    blobs = store.blobs if isinstance(store, App) else store
    with blobs.open(key) as stream:
        return stream.read()


def test_nothing_readable_in_the_store_only_through_gallra(practice: tuple[Cli, App]) -> None:
    """GIVEN an ingested e-mail WHEN the store is grepped THEN its words are not there."""
    cli, gallra = practice
    needles = [PHRASE.encode(), b"flytten", b"mardr\xc3\xb6mmarna", b"anna.ohrn@example.se"]
    files = [p for p in gallra.settings.blob_path.rglob("*") if p.is_file()]
    assert len(files) == 4
    for path in [*files, gallra.settings.home / "keys.db"]:
        content = path.read_bytes()
        assert not [n for n in needles if n in content], path
    anna = _items_of(gallra, _subject(gallra, "anna.ohrn@example.se"))
    assert any(PHRASE.encode() in _read(gallra, key) for key in anna.values())
    found = cli("search", "flytten", "--json")
    assert found.code == 0 and len(found.json()["hits"]) == 1


def test_erased_persons_blobs_in_a_pre_erasure_copy_cannot_be_decrypted(
    practice: tuple[Cli, App], tmp_path: Path
) -> None:
    """GIVEN a copy of the store and index made before an erasure WHEN the person is erased
    THEN none of their blobs in the copy decrypts, while the other person's still do."""
    cli, gallra = practice
    anna = _subject(gallra, "anna.ohrn@example.se")
    bo = _subject(gallra, "bo.lind@example.se")
    annas, bos = _items_of(gallra, anna), _items_of(gallra, bo)
    shared = set(annas.values()) & set(bos.values())
    only_anna = set(annas.values()) - shared
    assert len(only_anna) == 2 and len(shared) == 1
    secrets = {key: gallra.keystore.data_key(key) for key in annas.values()}
    copy = tmp_path / "copy"
    shutil.copytree(gallra.settings.blob_path, copy / "blobs")
    shutil.copy2(gallra.settings.home / "index.db", copy / "index.db")

    erased = cli("erase", str(anna), "--json")
    assert erased.code == 0, erased.err
    assert len(erased.json()["deleted"]) == 2
    status = cli("keys", "status", "--json").json()
    assert status["subject_keys_destroyed"] == 1

    copied = EncryptedBlobStore(LocalBlobStore(copy / "blobs"), gallra.keystore, gallra.clock)
    for key in only_anna:
        assert (copy / "blobs" / key).exists()
        with pytest.raises(KeyUnavailable, match=f"blob {key}: no data key"):
            _read(copied, key)
    for key in shared | set(bos.values()):
        assert _read(copied, key)  # kept for Bo, readable through his key
    copied_bytes = b"".join(p.read_bytes() for p in (copy / "blobs").rglob("*") if p.is_file())
    copied_bytes += (copy / "index.db").read_bytes()
    for key in only_anna:
        assert secrets[key] not in copied_bytes  # no data key travels with the copies
    with gallra.session() as s:
        actions = s.exec(select(LedgerEntry.action, LedgerEntry.detail)).all()
    assert (
        "subject-key-destroyed",
        f'{{"subject_id":{anna},"verified":["key-absent"]}}',
    ) in actions
    assert cli("ledger", "verify").code == 0


def test_tampering_is_detected_naming_the_item(practice: tuple[Cli, App], tmp_path: Path) -> None:
    """GIVEN stored blobs altered and truncated on disk THEN reads fail naming the item."""
    cli, gallra = practice
    assert cli("doctor", "--verify").code == 0
    bo = _subject(gallra, "bo.lind@example.se")
    items = sorted(_items_of(gallra, bo).items())
    (flip_id, flip_key), (cut_id, cut_key) = items
    flipped = gallra.settings.blob_path / flip_key
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x20
    flipped.write_bytes(bytes(data))
    cut = gallra.settings.blob_path / cut_key
    cut.write_bytes(cut.read_bytes()[:-5])

    doctor = cli("doctor", "--verify", "--json")
    assert doctor.code == 1
    assert sorted(doctor.json()["integrity"]["corrupt"]) == sorted([flip_id, cut_id])
    text = cli("doctor", "--verify").out
    assert f"CORRUPT item {flip_id}" in text and f"CORRUPT item {cut_id}" in text
    exported = cli("export", str(bo), "--out", str(tmp_path / "bo.zip"))
    assert exported.code == 2
    assert f"item {min(flip_id, cut_id)}: blob" in exported.err and "altered" in exported.err


def test_key_rotation_from_a_key_file_and_a_crash_half_way(
    practice: tuple[Cli, App],
) -> None:
    """GIVEN a master key file WHEN rotated (and once interrupted) THEN every blob reads
    under the new key and the old key opens nothing."""
    cli, gallra = practice
    old_text = gallra.settings.master_key_path.read_text()
    rotated = cli("keys", "rotate", "--json")
    assert rotated.code == 0, rotated.err
    assert rotated.json()["subject_keys"] >= 2
    assert gallra.settings.master_key_path.read_text() != old_text
    assert cli("doctor", "--verify").code == 0

    # A crash after the key store is rewrapped, before the new file replaces the old.
    from storage.keystore import MasterKey, new_master_key

    fresh = App(settings=get_settings(cli.home))
    text = new_master_key()
    gallra.settings.next_master_key_path.write_text(text + "\n")
    fresh.keystore.rotate(MasterKey.parse(text, where="test"))
    assert cli("doctor", "--verify").code == 0  # finishes the rotation
    assert gallra.settings.master_key_path.read_text().strip() == text
    assert not gallra.settings.next_master_key_path.exists()

    gallra.settings.master_key_path.write_text(old_text)
    stale = cli("doctor", "--verify")
    assert stale.code == 2 and "is not the key store's" in stale.err


def test_rotation_with_the_key_in_the_environment(
    practice: tuple[Cli, App], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli, gallra = practice
    monkeypatch.setenv("GALLRA_MASTER_KEY", gallra.settings.master_key_path.read_text().strip())
    gallra.settings.master_key_path.unlink()
    refused = cli("keys", "rotate")
    assert refused.code == 2 and "--new-key-file" in refused.err
    out = tmp_path / "ny.key"
    assert cli("keys", "rotate", "--new-key-file", str(out)).code == 0
    assert cli("doctor", "--verify").code == 2  # the variable still holds the old key
    monkeypatch.setenv("GALLRA_MASTER_KEY", out.read_text().strip())
    assert cli("doctor", "--verify").code == 0


def test_backup_restore_replays_later_erasures_and_expires_with_its_key(
    practice: tuple[Cli, App], tmp_path: Path
) -> None:
    """GIVEN a backup WHEN a person is erased and the backup restored THEN the erasure is
    re-applied; WHEN the backup expires THEN a copy of it cannot be decrypted."""
    cli, gallra = practice
    made = cli("backup", "--json")
    assert made.code == 0, made.err
    key = made.json()["key"]
    stored = (gallra.settings.blob_path / key).read_bytes()
    assert b"SQLite format" not in stored and PHRASE.encode() not in stored
    assert cli("doctor", "--verify", "--json").json()["integrity"]["newest_backup_ok"] is True
    (gallra.settings.blob_path / key).write_bytes(stored[:-1])
    damaged = cli("doctor", "--verify")
    assert damaged.code == 1 and "newest index backup: CORRUPT" in damaged.out
    (gallra.settings.blob_path / key).write_bytes(stored)
    anna = _subject(gallra, "anna.ohrn@example.se")
    annas = _items_of(gallra, anna)
    assert cli("erase", str(anna)).code == 0

    refused = cli("restore", "--latest")
    assert refused.code == 2 and "--yes" in refused.err
    restored = cli("restore", "--latest", "--yes", "--json")
    assert restored.code == 0, restored.err
    replay = restored.json()
    bo_keys = set(_items_of(gallra, _subject(gallra, "bo.lind@example.se")).values())
    assert sorted(replay["items_removed"]) == sorted(
        i for i, k in annas.items() if k not in bo_keys
    )
    assert replay["subjects_removed"] == [anna]
    people = {p["id"] for p in cli("subject", "list", "--json").json()}
    assert anna not in people and _subject(gallra, "bo.lind@example.se") in people
    assert cli("doctor", "--verify").code == 0
    assert cli("search", "jobbet", "--json").json()["hits"]

    copy = tmp_path / "old-backup"
    copy.write_bytes((gallra.settings.blob_path / key).read_bytes())
    later = cli("backup", "--json", now="2027-01-05")
    assert later.code == 0 and later.json()["pruned"] == [key]
    assert [b["key"] for b in cli("backup", "--list", "--json").json()] == [later.json()["key"]]
    with pytest.raises(KeyUnavailable):
        gallra.keystore.data_key(key)


def test_turning_encryption_off_on_an_encrypted_archive_is_refused(
    practice: tuple[Cli, App], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli, _ = practice
    monkeypatch.setenv("GALLRA_KEYS__ENCRYPT", "false")
    refused = cli("doctor", "--verify")
    assert refused.code == 2 and "keys.encrypt = false, but this archive has a key store" in (
        refused.err
    )


def test_without_the_master_key_nothing_opens(practice: tuple[Cli, App]) -> None:
    cli, gallra = practice
    key = gallra.settings.master_key_path.read_text()
    gallra.settings.master_key_path.rename(gallra.settings.home / "elsewhere.key")
    missing = cli("doctor", "--verify")
    assert missing.code == 2 and "master key: none set" in missing.err
    gallra.settings.master_key_path.write_text(key[:20] + "\n")
    malformed = cli("doctor", "--verify")
    assert malformed.code == 2 and "must be 32 bytes" in malformed.err
    assert key[:20] not in malformed.err


@pytest.mark.integration
def test_outgrown_practice_postgresql_index_and_keys_s3_store(
    tmp_path: Path, s3_client: S3Client, s3_endpoint: str
) -> None:
    """GIVEN PostgreSQL for index and key store and a versioned S3 bucket THEN the bucket
    holds only ciphertext, a pg_dump backup restores and replays, and erasure shreds."""
    bucket = new_bucket(s3_client, versioned=True)
    with postgres_database() as index_url, postgres_database() as keys_url:
        home = tmp_path / "home"
        home.mkdir()
        (home / "gallra.toml").write_text(
            f'[index]\nurl = "{index_url}"\n[keys]\nurl = "{keys_url}"\n'
            f'[blobs]\nbackend = "s3"\nbucket = "{bucket}"\nendpoint_url = "{s3_endpoint}"\n'
            '[mail]\nown_addresses = ["coach@example.org"]\n',
            encoding="utf-8",
        )
        cli = Cli(home, now=DAY)
        assert cli("init").code == 0
        mail = _mailbox(tmp_path / "mail")
        assert cli("ingest", "mail", "--eml-dir", str(mail), "--json").json()["new"] == 4
        for version in s3_client.list_object_versions(Bucket=bucket)["Versions"]:
            body = s3_client.get_object(
                Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"]
            )["Body"].read()
            assert PHRASE.encode() not in body and b"flytten" not in body
        made = cli("backup", "--json")
        assert made.code == 0, made.err
        assert made.json()["key"].endswith(".pgdump")
        gallra = App(settings=get_settings(home))
        anna = _subject(gallra, "anna.ohrn@example.se")
        bo_keys = set(_items_of(gallra, _subject(gallra, "bo.lind@example.se")).values())
        only_anna = set(_items_of(gallra, anna).values()) - bo_keys
        copied = new_bucket(s3_client, versioned=False)  # someone copies the bucket
        for obj in s3_client.list_objects_v2(Bucket=bucket)["Contents"]:
            s3_client.copy_object(
                Bucket=copied, Key=obj["Key"], CopySource={"Bucket": bucket, "Key": obj["Key"]}
            )
        assert cli("erase", str(anna)).code == 0
        assert cli("keys", "status", "--json").json()["subject_keys_destroyed"] == 1
        copy = EncryptedBlobStore(S3BlobStore(s3_client, copied), gallra.keystore, gallra.clock)
        assert len(only_anna) == 2
        for key in only_anna:
            with pytest.raises(KeyUnavailable):
                _read(copy, key)
        for key in bo_keys:
            assert _read(copy, key)
        restored = cli("restore", "--latest", "--yes", "--json")
        assert restored.code == 0, restored.err
        assert len(restored.json()["items_removed"]) == 2
        assert restored.json()["subjects_removed"] == [anna]
        assert cli("doctor", "--verify").code == 0
        assert cli("search", "jobbet", "--json").json()["hits"]
        gallra.close()


def test_a_player_seeks_into_a_large_encrypted_recording_without_decrypting_it_all(
    practice: tuple[Cli, App],
) -> None:
    """GIVEN a 24 MiB encrypted blob WHEN a range near its end is read THEN those bytes come
    back and only the chunk holding them is decrypted (peak memory a few MiB)."""
    import io
    import os
    import tracemalloc

    from gallra.web.ranges import read_range

    _, gallra = practice
    data = os.urandom(24 * 1024 * 1024 + 333)
    gallra.blobs.put("rec/large", io.BytesIO(data))
    start, end = 23 * 1024 * 1024 - 50, 23 * 1024 * 1024 + 50
    tracemalloc.start()
    with gallra.blobs.open("rec/large") as stream:
        assert stream.seekable()
        got = b"".join(read_range(stream, (start, end), 64 * 1024))
        opened = getattr(stream, "chunks_decrypted", None)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert got == data[start : end + 1]
    assert opened == 2  # the two chunks the range spans, of 25
    assert peak < 4 * 1024 * 1024, peak
