"""Jobs that must run alone, started together as the installed `gallra` command: each
pairing of sweep, erasure, restore and key rotation ends exact whichever wins the lock,
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from gallra.settings import get_settings
from gallra.wiring import App
from models.tables import Item, LedgerEntry, Subject
from storage import ledger
from storage.registry import NewIdentifier, add_subject, start_engagement
from tests.factory import make_item
from tests.servers import postgres_database

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
GALLRA = shutil.which("gallra", path=str(Path(sys.executable).parent)) or "gallra"
LATER = "2027-06-01"  # every item below is past its retention by then


@dataclass
class Practice:
    """A home with one prospect's expired mails and one client's current ones."""

    home: Path
    env: dict[str, str]
    prospect: int
    expired: list[int]
    kept: dict[int, str]  # a client's current mails: id -> text

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [GALLRA, "--now", LATER, *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        run = self.start(*args)
        out, err = run.communicate(timeout=300)
        return subprocess.CompletedProcess(run.args, run.returncode, out, err)

    def app(self) -> App:
        os.environ.update(self.env)
        return App(settings=get_settings(self.home))


@pytest.fixture(params=ENGINES)
def practice(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Practice]:
    home = tmp_path / "home"
    with postgres_database() if request.param == "postgresql" else nullcontext("") as url:
        env = {**os.environ, "GALLRA_HOME": str(home)}
        if url:
            env["GALLRA_INDEX__URL"] = url
            monkeypatch.setenv("GALLRA_INDEX__URL", url)
        monkeypatch.setenv("GALLRA_HOME", str(home))
        subprocess.run([GALLRA, "init"], env=env, check=True, capture_output=True, timeout=120)
        gallra = App(settings=get_settings(home))
        with gallra.session() as s:
            person = add_subject(
                s,
                display_name="Fråga Fredriksson",
                identifiers=[NewIdentifier.email("fraga@example.se")],
            )
            assert person.id is not None
            old = datetime(2025, 5, 1, 10, tzinfo=UTC)
            expired = [
                make_item(
                    s,
                    gallra.blobs,
                    gallra.policy,
                    text=f"fråga {n}",
                    subjects=[person.id],
                    received=old,
                ).id
                for n in range(40)
            ]
            client = add_subject(s, display_name="Klara Klient")
            assert client.id is not None
            start_engagement(s, client_id=client.id, starts_on=date(2026, 10, 1))
            kept = {
                make_item(
                    s,
                    gallra.blobs,
                    gallra.policy,
                    text=f"samtal {n}",
                    subjects=[client.id],
                    received=datetime(2026, 11, 2, 9, tzinfo=UTC),
                ).id
                or 0: f"samtal {n}"
                for n in range(5)
            }
        gallra.close()
        yield Practice(home, env, person.id, [i for i in expired if i is not None], kept)


def _check_exact(practice: Practice) -> None:
    """Every expired item deleted and ledgered once, the person gone, the chain intact."""
    gallra = practice.app()
    try:
        with gallra.session() as s:
            entries = list(s.exec(select(LedgerEntry).where(LedgerEntry.action == "item-deleted")))
            assert sorted(e.item_id or 0 for e in entries) == sorted(practice.expired)
            left = s.exec(
                select(func.count()).select_from(Item).where(col(Item.id).in_(practice.expired))
            ).one()
            assert left == 0
            assert s.get(Subject, practice.prospect) is None
            assert ledger.verify(s).ok
    finally:
        gallra.close()
    for item_id, body in practice.kept.items():
        out = practice.home.parent / f"kept-{item_id}"
        out.unlink(missing_ok=True)
        got = practice.run("item", "get", str(item_id), "--out", str(out))
        assert got.returncode == 0, got.stderr
        assert out.read_text(encoding="utf-8") == body


def _together(practice: Practice, *commands: list[str]) -> list[tuple[str, str]]:
    """Start every command at once; all must succeed. Their (stdout, stderr)."""
    runs = [practice.start(*command) for command in commands]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0] * len(runs), [e[-2000:] for _, e in outputs]
    return outputs


def test_erasure_and_sweep_started_together(practice: Practice) -> None:
    """GIVEN a prospect whose mails have all expired WHEN an erasure of them and a sweep
    start at the same instant THEN both succeed, whichever ran first: the erasure either
    deleted the mails itself or certifies that the sweep had deleted the person."""
    outputs = _together(practice, ["erase", str(practice.prospect), "--json"], ["sweep"])
    cert = json.loads(outputs[0][0])
    assert len(cert["deleted"]) == 40 or cert["subject_entry"].startswith("deleted before")
    _check_exact(practice)


def test_erasure_of_a_person_the_sweep_deleted_is_answered_from_the_ledger(
    practice: Practice,
) -> None:
    """GIVEN a prospect the nightly sweep already deleted WHEN their erasure request comes
    THEN the certificate names the ledger entry of the deletion; an id never held is an
    error naming it."""
    assert practice.run("sweep").returncode == 0
    done = practice.run("erase", str(practice.prospect), "--json")
    assert done.returncode == 0, done.stderr
    cert = json.loads(done.stdout)
    assert cert["deleted"] == [] and cert["subject_entry"].startswith("deleted before")
    missing = practice.run("erase", "9999")
    assert missing.returncode != 0 and "subject 9999" in missing.stderr
    _check_exact(practice)


def test_key_rotation_and_sweep_started_together(practice: Practice) -> None:
    """GIVEN expired and current mails, encrypted WHEN a master-key rotation and a sweep start
    at the same instant THEN the expired ones are gone once and the current ones still open
    under the new key."""
    _together(practice, ["keys", "rotate"], ["sweep"])
    _check_exact(practice)


def test_restore_and_sweep_started_together(practice: Practice) -> None:
    """GIVEN a backup taken before anything expired WHEN a restore of it and a sweep start
    at the same instant THEN whichever ran first, the expired mails stay deleted (the restore
    re-applies the ledger) and the current ones are intact."""
    backup = practice.run("backup", "--json")
    assert backup.returncode == 0, backup.stderr
    _together(practice, ["restore", "--latest", "--yes"], ["sweep"])
    practice.run("sweep")  # a restore that ran first brought the expired items back as due
    _check_exact(practice)


def test_restore_and_key_rotation_started_together(practice: Practice) -> None:
    """GIVEN a backup WHEN a restore and a master-key rotation start together THEN every
    current mail still opens and a sweep afterwards finishes the expired ones."""
    assert practice.run("backup").returncode == 0
    _together(practice, ["restore", "--latest", "--yes"], ["keys", "rotate"])
    assert practice.run("sweep").returncode == 0
    _check_exact(practice)


def test_a_sweep_that_waited_out_a_key_rotation_uses_the_new_key(practice: Practice) -> None:
    """GIVEN a sweep started while a rotation holds the lock (so it began under the old
    master key) WHEN the rotation finishes first THEN the sweep still shreds and rebinds
    under the new key, and every current mail opens."""
    from gallra.cli import main
    from storage.locks import exclusive

    gallra = practice.app()
    try:
        with exclusive(gallra.require_index()):
            sweeping = practice.start("sweep")
            waited = ""
            while "waiting" not in waited:
                assert sweeping.stderr is not None
                waited += sweeping.stderr.readline()
                assert sweeping.poll() is None, waited
            argv, sys.argv = sys.argv, ["gallra", "--home", str(practice.home), "keys", "rotate"]
            try:
                main()
            except SystemExit as exc:
                assert not exc.code
            finally:
                sys.argv = argv
    finally:
        gallra.close()
    _, err = sweeping.communicate(timeout=300)
    assert sweeping.returncode == 0, err[-2000:]
    _check_exact(practice)
