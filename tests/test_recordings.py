"""Recordings: real files accepted with a duration, decoys quarantined with a reason,
tagging by sidecar, folder and name, no source copy left, exactly once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session, select

from ingest.recordings import RecordingIngestor, RecordingRules
from models.clock import SystemClock
from models.enums import ItemKind
from models.policy import Policy
from models.tables import Item, ItemSubject
from storage.engine import make_engine, migrate
from storage.local import LocalBlobStore
from storage.registry import NewIdentifier, add_subject, start_engagement
from tests.conftest import CORPORA, Cli

AUDIO = CORPORA / "audio"
OLD = time.time() - 3600


def settle(root: Path) -> None:
    """Make every file look finished (unchanged for an hour)."""
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (OLD, OLD))


def speech(target: Path, text: str = "Hej, det här är en inspelad coachningssession.") -> Path:
    """Swedish speech made with espeak-ng, converted by ffmpeg by the target's suffix."""
    wav = target.with_suffix(".tmp.wav")
    subprocess.run(["espeak-ng", "-v", "sv", "-w", str(wav), text], check=True, capture_output=True)
    if target.suffix == ".wav":
        wav.rename(target)
    else:
        subprocess.run(
            ["ffmpeg", "-y", "-loglevel", "error", "-i", str(wav), str(target)],
            check=True,
            capture_output=True,
        )
        wav.unlink()
    return target


@pytest.fixture
def setup(tmp_path: Path, policy: Policy) -> tuple[RecordingIngestor, Path, Path]:
    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    migrate(engine)
    drop = tmp_path / "drop"
    drop.mkdir()
    rules = RecordingRules(quarantine=tmp_path / "quarantine", stable_seconds=60)
    ingestor = RecordingIngestor(
        engine, LocalBlobStore(tmp_path / "blobs"), policy, SystemClock(), rules
    )
    return ingestor, drop, tmp_path / "quarantine"


def test_every_real_corpus_file_is_accepted_and_every_decoy_quarantined(
    setup: tuple[RecordingIngestor, Path, Path], corpora: Path
) -> None:
    ingestor, drop, quarantine = setup
    shutil.copytree(
        AUDIO, drop / "corpus", ignore=shutil.ignore_patterns("_license", "*.toml", "*.md")
    )
    files = [p for p in drop.rglob("*") if p.is_file()]
    settle(drop)
    summary = ingestor.ingest_folder(drop)
    assert summary.new + summary.duplicates + summary.quarantined == len(files) == summary.seen
    assert [p for p in drop.rglob("*") if p.is_file()] == []  # nothing left behind
    with Session(ingestor.engine) as s:
        recordings = list(s.exec(select(Item).where(Item.kind == ItemKind.RECORDING.value)))
        refused = list(s.exec(select(Item).where(Item.parse_status == "quarantined")))
    assert 0 < len(refused) <= summary.quarantined  # identical decoys are stored once
    assert not quarantine.exists()  # no plaintext copy outside the store
    assert len(recordings) == summary.new > 180
    assert all(r.duration_seconds and r.duration_seconds > 0 for r in recordings)
    assert all(r.special_category for r in recordings)
    accepted = {r.title for r in recordings}
    # One realistic file per format, with real durations: all accepted (qcp via our signature).
    realistic = {p.name for p in (AUDIO / "mimetype" / "testdata").iterdir()} - {"midi.midi"}
    assert realistic <= accepted, realistic - accepted
    kinds = {(r.parse_error or "").split(" ")[0] for r in refused}
    assert kinds <= {"empty", "content", *{k for k in kinds if k.startswith(("audio/", "video/"))}}


def test_generated_sessions_tagging_decoys_and_exactly_once(
    setup: tuple[RecordingIngestor, Path, Path], tmp_path: Path
) -> None:
    ingestor, drop, quarantine = setup
    with Session(ingestor.engine, expire_on_commit=False) as s:
        astrid = add_subject(
            s, display_name="Astrid", identifiers=[NewIdentifier.email("astrid@example.se")]
        )
        bo = add_subject(s, display_name="Bo", identifiers=[NewIdentifier.email("bo@example.se")])
        assert astrid.id and bo.id
        start_engagement(s, client_id=astrid.id, starts_on=date(2026, 1, 1))
        s.commit()
    speech(drop / "session.m4a")
    (drop / "session.m4a.json").write_text(
        json.dumps({"subject": "astrid@example.se", "recorded_at": "2026-03-06T14:30:00+01:00"})
    )
    (drop / f"subject-{bo.id}").mkdir()
    speech(drop / f"subject-{bo.id}" / "samtal.ogg")
    speech(drop / "bo@example.se_2026-04-02_10-00.webm")
    speech(drop / "okänd.wav")
    (drop / "okänd.json").write_text(json.dumps({"subject": "nobody@example.se"}))
    shutil.copy("/bin/true", drop / "session2.mp3")  # an executable named .mp3
    (drop / "tom.mp3").write_bytes(b"")
    settle(drop)
    speech(drop / "still-copying.wav", "En annan session som kopieras just nu.")  # not stable yet
    summary = ingestor.ingest_folder(drop)
    assert (summary.new, summary.quarantined, summary.unassigned, summary.not_yet_stable) == (
        4,
        2,
        1,
        1,
    )
    assert sorted(p.name for p in drop.rglob("*") if p.is_file()) == ["still-copying.wav"]
    with Session(ingestor.engine) as s:
        refused = list(s.exec(select(Item).where(Item.parse_status == "quarantined")))
    reasons = {i.parse_error for i in refused}
    assert "empty file (0 bytes)" in reasons and not quarantine.exists()
    # libmagic calls a PIE binary application/x-sharedlib (x-executable for older ones).
    assert any(
        (r or "").startswith(
            ("content is application/x-sharedlib", "content is application/x-exec")
        )
        for r in reasons
    )
    with Session(ingestor.engine) as s:
        items = {i.title: i for i in s.exec(select(Item).where(Item.kind == "recording"))}
        links = {(k.item_id, k.subject_id, k.reason) for k in s.exec(select(ItemSubject))}
    session = items["session.m4a"]
    assert (session.id, astrid.id, "sidecar") in links
    assert session.received_at.isoformat() == "2026-03-06T13:30:00+00:00"
    assert session.rule_id == "contract" and session.expires_at is None  # Astrid's contract runs
    assert (items["samtal.ogg"].id, bo.id, "per-subject folder") in links
    webm = items["bo@example.se_2026-04-02_10-00.webm"]
    assert (webm.id, bo.id, "address in file name") in links
    assert webm.received_at.date() == date(2026, 4, 2)
    unknown = items["okänd.wav"]
    assert unknown.rule_id == "unassigned" and "unknown subject" in (unknown.parse_error or "")
    assert all(i.duration_seconds and i.duration_seconds > 1 for i in items.values())
    # Exactly once: the same bytes dropped again are recognised and the copy removed.
    speech(drop / "again.m4a")
    settle(drop)
    again = ingestor.ingest_folder(drop)
    assert (again.new, again.duplicates) == (1, 1)  # still-copying.wav is new now; again.m4a known
    assert [p.name for p in drop.rglob("*") if p.is_file()] == []


@pytest.mark.integration
def test_s3_inbox_on_moto_and_the_cli(
    cli: Cli, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from storage.s3 import make_s3_client
    from tests.conftest import new_bucket

    client = make_s3_client(endpoint_url=s3_endpoint)
    bucket = new_bucket(client, versioned=False)
    made = speech(tmp_path / "inbox-session.wav")
    client.upload_file(str(made), bucket, "incoming/inbox-session.wav")
    client.put_object(Bucket=bucket, Key="incoming/decoy.mp3", Body=Path("/bin/true").read_bytes())
    (cli.home / "gallra.toml").write_text(
        f'[blobs]\nendpoint_url = "{s3_endpoint}"\n\n'
        f'[recordings]\ns3_inbox_bucket = "{bucket}"\ns3_inbox_prefix = "incoming"\n'
    )
    result = cli("ingest", "recordings", "--json")
    assert result.code == 0, result.err
    assert (result.json()["new"], result.json()["quarantined"]) == (1, 1)
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0  # inbox emptied
    assert not list((cli.home / "tmp").rglob("*.wav"))  # no stray temp copy
    unassigned = cli("items", "unassigned", "--json").json()
    assert [u["title"] for u in unassigned] == ["inbox-session.wav"]
    person = cli("subject", "add", "--name", "Ebba", "--email", "ebba@example.se", "--json").json()
    cli("engagement", "start", str(person["id"]), "--on", "2026-01-01")
    assigned = cli("item", "assign", str(unassigned[0]["id"]), str(person["id"]), "--json")
    assert assigned.code == 0 and assigned.json()["rule"] == "contract"
    doctor = cli("doctor", "--json").json()
    assert len(doctor["quarantined"]) == 1
    assert doctor["quarantined"][0]["reason"].startswith("content is application/x-")


def test_after_store_move_and_keep(tmp_path: Path, policy: Policy) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    migrate(engine)
    blobs = LocalBlobStore(tmp_path / "blobs")
    for mode in ("move", "keep"):
        drop = tmp_path / f"drop-{mode}"
        drop.mkdir()
        speech(drop / f"{mode}.wav", f"Inspelning som ska {mode}.")
        (drop / f"{mode}.wav.json").write_text("{}")
        settle(drop)
        rules = RecordingRules(
            quarantine=tmp_path / "q",
            after_store=mode,
            move_to=tmp_path / "done",
        )
        summary = RecordingIngestor(engine, blobs, policy, SystemClock(), rules).ingest_folder(drop)
        assert summary.new == 1
        left = sorted(p.name for p in drop.iterdir())
        assert left == ([] if mode == "move" else [f"{mode}.wav", f"{mode}.wav.json"])
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["move.wav", "move.wav.json"]


def _with_id3(data: bytes, padding: int = 200) -> bytes:
    size = bytes(
        [(padding >> 21) & 0x7F, (padding >> 14) & 0x7F, (padding >> 7) & 0x7F, padding & 0x7F]
    )
    return b"ID3\x04\x00\x00" + size + b"\x00" * padding + data


def test_recordings_are_recognised_by_what_plays_and_decoys_stay_out(
    setup: tuple[RecordingIngestor, Path, Path], tmp_path: Path
) -> None:
    """GIVEN an MPEG-TS recording (libmagic: octet-stream), ID3-prefixed FLAC and AAC, and
    decoys named .mp3 (an ELF, a script, a zip, random bytes) WHEN ingested THEN the playable
    ones are accepted with a duration and every decoy is refused."""
    import os as _os
    import zipfile

    ingestor, drop, _ = setup
    wav = speech(tmp_path / "tal.wav")
    for name, args in (
        ("sändning.ts", ["-f", "mpegts", "-c:a", "mp2"]),
        ("a.flac", []),
        ("a.aac", ["-c:a", "aac"]),
    ):
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), *args, str(tmp_path / name)],
            check=True,
        )
    shutil.copy(tmp_path / "sändning.ts", drop / "sändning.ts")
    (drop / "id3.flac").write_bytes(_with_id3((tmp_path / "a.flac").read_bytes()))
    (drop / "id3.aac").write_bytes(_with_id3((tmp_path / "a.aac").read_bytes()))
    shutil.copy("/bin/true", drop / "elf.mp3")
    (drop / "skript.mp3").write_text("#!/bin/sh\necho hej\n")
    with zipfile.ZipFile(drop / "arkiv.mp3", "w") as archive:
        archive.writestr("a.txt", "hej")
    (drop / "brus.mp3").write_bytes(_os.urandom(200_000))
    settle(drop)
    summary = ingestor.ingest_folder(drop)
    with Session(ingestor.engine) as s:
        accepted = {i.title: i for i in s.exec(select(Item).where(Item.kind == "recording"))}
    assert set(accepted) == {"sändning.ts", "id3.flac", "id3.aac"}, set(accepted)
    assert all(i.duration_seconds and i.duration_seconds > 1 for i in accepted.values())
    assert accepted["sändning.ts"].mime_type == "audio/x-mpegts"
    assert summary.quarantined == 4
