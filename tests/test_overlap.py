"""Runs that overlap stay exact: one sweep at a time, one item per message, one ledger entry
per deletion, on SQLite and PostgreSQL, with real processes started at the same instant."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from models.clock import FixedClock
from models.enums import ItemKind
from models.tables import Item, ItemSubject, LedgerEntry
from storage import ledger
from storage.engine import make_engine, migrate
from storage.local import LocalBlobStore
from storage.registry import add_subject
from tests.dovecot import Dovecot
from tests.mailgen import message
from tests.servers import postgres_database

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
PW_ENV = "GALLRA_TEST_IMAP_PASSWORD"


@pytest.fixture(params=ENGINES)
def index_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh index URL (not yet migrated) on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'index.db'}"
    else:
        with postgres_database() as url:
            yield url


def _expired_items(url: str, blobs_root: Path, count: int) -> None:
    """`count` e-mails of a prospect, long expired, with their blobs stored."""
    engine = make_engine(url)
    migrate(engine)
    blobs = LocalBlobStore(blobs_root)
    payloads = {f"t/{n:05d}": (f"meddelande {n}".encode(), "") for n in range(count)}
    payloads = {k: (d, hashlib.sha256(d).hexdigest()) for k, (d, _) in payloads.items()}
    blobs.put_many(payloads)
    old = datetime(2020, 1, 1, tzinfo=UTC)
    with Session(engine) as s:
        person = add_subject(s, display_name="Fråga Fredriksson")
        rows = [
            {
                "kind": ItemKind.EMAIL.value,
                "source": "test",
                "source_ref": key,
                "received_at": old,
                "size": len(data),
                "sha256": sha,
                "blob_key": key,
                "parse_status": "ok",
                "purpose": "agreement",
                "legal_basis": "contract",
                "expires_at": datetime(2020, 4, 1, tzinfo=UTC),
                "rule_id": "prospect",
                "created_at": old,
            }
            for key, (data, sha) in payloads.items()
        ]
        ids = s.execute(insert(Item).returning(col(Item.id)), rows).scalars().all()
        s.execute(
            insert(ItemSubject),
            [{"item_id": i, "subject_id": person.id, "role": "from"} for i in ids],
        )
        s.commit()
    engine.dispose()


def _sweep_after(url: str, blobs_root: str, barrier: Barrier, out: str) -> None:
    """One process: wait for the other, then sweep; write what it deleted."""
    from models.policy import load_policy
    from storage.sweep import run_sweep

    engine = make_engine(url)
    barrier.wait(timeout=60)
    result = run_sweep(
        engine, LocalBlobStore(Path(blobs_root)), load_policy(), FixedClock.on(date(2026, 12, 4))
    )
    Path(out).write_text(json.dumps({"deleted": result.deleted, "failures": result.failures}))
    engine.dispose()


def test_two_sweeps_at_once_delete_and_ledger_each_item_once(
    index_url: str, tmp_path: Path
) -> None:
    """GIVEN 400 expired items WHEN two processes, released together by a barrier, sweep
    THEN every item is deleted and ledgered exactly once and the ledger verifies."""
    _expired_items(index_url, tmp_path / "blobs", 400)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    outs = [tmp_path / f"sweep-{n}.json" for n in range(2)]
    workers = [
        context.Process(
            target=_sweep_after, args=(index_url, str(tmp_path / "blobs"), barrier, str(out))
        )
        for out in outs
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [w.exitcode for w in workers] == [0, 0]
    reports = [json.loads(out.read_text()) for out in outs]
    assert sorted(r["deleted"] for r in reports) == [0, 400]  # one swept, the other waited
    assert all(r["failures"] == [] for r in reports)
    engine = make_engine(index_url)
    with Session(engine) as s:
        entries = list(s.exec(select(LedgerEntry).where(LedgerEntry.action == "item-deleted")))
        assert len(entries) == 400 == len({e.item_id for e in entries})
        assert s.exec(select(func.count()).select_from(Item)).one() == 0
        assert ledger.verify(s).ok
    engine.dispose()


def test_ledger_verify_catches_an_item_deleted_twice(index_url: str) -> None:
    engine = make_engine(index_url)
    migrate(engine)
    at = datetime(2026, 12, 4, tzinfo=UTC)
    with Session(engine) as s:
        for _ in range(2):
            ledger.append(s, at=at, action="item-deleted", item_id=7, sha256="ab" * 32)
        s.commit()
        verdict = ledger.verify(s)
    engine.dispose()
    assert (verdict.ok, verdict.first_broken) == (False, 2)
    assert verdict.reason == "item 7 is recorded deleted twice (entry 1 too)"


def test_migration_merges_the_duplicates_an_index_already_holds(index_url: str) -> None:
    """GIVEN an index at 0006 holding one message twice (with an attachment each), tied to
    two different people WHEN it is migrated THEN one item remains, tied to both, the merge
    is ledgered, and a second copy can no longer be inserted."""
    engine = make_engine(index_url)
    migrate(engine, "0006")
    now = datetime(2026, 11, 1, tzinfo=UTC)
    base = {
        "kind": "email", "source": "imap:practice/INBOX", "received_at": now, "size": 10,
        "sha256": "cd" * 32, "blob_key": "mail/cd/x", "parse_status": "ok",
        "purpose": "agreement", "legal_basis": "contract", "created_at": now,
    }  # fmt: skip
    with Session(engine, expire_on_commit=False) as s:
        a = add_subject(s, display_name="Astrid Exempel")
        b = add_subject(s, display_name="Bertil Exempel")
        ids = []
        for n, person in enumerate((a, b)):
            item_id = s.execute(
                insert(Item).returning(col(Item.id)), {**base, "source_ref": f"1:{n}"}
            ).scalar_one()
            s.execute(insert(ItemSubject).values(item_id=item_id, subject_id=person.id))
            s.execute(
                insert(Item).values(
                    **{**base, "kind": "attachment", "sha256": "ef" * 32, "blob_key": "att/ef/y"},
                    parent_id=item_id,
                    source_ref=f"1:{n}",
                )
            )
            ids.append(item_id)
        s.commit()
    migrate(engine)
    with Session(engine) as s:
        emails = list(s.exec(select(Item).where(Item.kind == "email")))
        assert [e.id for e in emails] == [ids[0]]
        linked = set(s.exec(select(ItemSubject.subject_id).where(ItemSubject.item_id == ids[0])))
        assert linked == {a.id, b.id}
        assert len(list(s.exec(select(Item).where(Item.kind == "attachment")))) == 1
        [merged] = list(s.exec(select(LedgerEntry)))
        assert (merged.action, merged.item_id) == ("item-merged", ids[1])
        assert json.loads(merged.detail)["kept_item_id"] == ids[0]
        assert ledger.verify(s).ok
    with pytest.raises(IntegrityError), Session(engine) as s:
        s.execute(insert(Item).values(**{**base, "source_ref": "1:9"}))
        s.commit()
    with Session(engine) as s:  # an attachment may repeat: one file in two messages
        s.execute(insert(Item).values(**{**base, "kind": "attachment", "source_ref": "2:1"}))
        s.execute(text("SELECT 1"))
        s.commit()
    engine.dispose()


@pytest.mark.integration
@pytest.mark.parametrize("batch", [1, 10, 100])
def test_two_ingests_of_one_mailbox_store_each_message_once(
    index_url: str, dovecot: Dovecot, tmp_path: Path, batch: int
) -> None:
    """GIVEN 150 messages in one mailbox WHEN two `gallra ingest mail` processes pull it at
    the same time THEN the index holds exactly 150 e-mails, each once."""
    dovecot.append("INBOX", [message(n) for n in range(150)])
    home = tmp_path / "home"
    env = {
        **os.environ,
        "GALLRA_HOME": str(home),
        "GALLRA_INDEX__URL": index_url,
        "GALLRA_MAIL__BATCH_SIZE": str(batch),
        "GALLRA_MAIL__OWN_ADDRESSES": '["coach@example.org"]',
        PW_ENV: dovecot.password,
    }
    gallra = [sys.executable, "-m", "gallra"]
    subprocess.run([*gallra, "init"], env=env, check=True, capture_output=True, timeout=120)
    url = f"imap://{dovecot.user}@127.0.0.1:{dovecot.port}"
    argv = [*gallra, "ingest", "mail", "--imap", url, "--password-env", PW_ENV, "--json"]
    runs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    reports = [json.loads(out) for out, _ in outputs]
    assert sum(r["new"] for r in reports) == 150
    engine = make_engine(index_url)
    with Session(engine) as s:
        shas = list(s.exec(select(Item.sha256).where(Item.kind == "email")))
    engine.dispose()
    assert len(shas) == len(set(shas)) == 150


@pytest.mark.integration
def test_a_message_in_two_mailboxes_is_deleted_from_both(tmp_path: Path) -> None:
    """GIVEN one message received by two configured mailboxes (both enforcing retention)
    WHEN it expires THEN it was one item with two positions, and the sweep deletes the
    server copy in each mailbox, verified, with one ledger entry."""
    server = Dovecot(extra_users=("kollega",))
    server.start()
    try:
        shared = message(1, to="coach@example.org, kollega@example.org")
        for user in server.users:
            server.append("INBOX", [shared, message(2 if user == "coach" else 3)], user=user)
        home = tmp_path / "home"
        env = {**os.environ, "GALLRA_HOME": str(home), PW_ENV: server.password}
        gallra = [sys.executable, "-m", "gallra"]
        subprocess.run([*gallra, "init"], env=env, check=True, capture_output=True, timeout=120)
        (home / "gallra.toml").write_text(
            '[mail]\nown_addresses = ["coach@example.org", "kollega@example.org"]\n'
            + "".join(
                f'[[mail.sources]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {server.port}\n'
                f'security = "none"\nuser = "{user}"\npassword_env = "{PW_ENV}"\n'
                'folders = ["INBOX"]\nenforce_retention = true\n'
                for name, user in (("practice", "coach"), ("second", "kollega"))
            )
        )

        def run(*args: str) -> dict[str, object]:
            done = subprocess.run(
                [*gallra, *args, "--json"], env=env, capture_output=True, timeout=300, check=False
            )
            assert done.returncode == 0, done.stderr[-2000:]
            report: dict[str, object] = json.loads(done.stdout)
            return report

        assert run("ingest", "mail")["new"] == 3  # the shared message once, and one each
        engine = make_engine(f"sqlite:///{home / 'index.db'}")
        with Session(engine) as s:
            positions = s.execute(
                text("SELECT item_id, source FROM itemsource ORDER BY source")
            ).all()
        assert len({item for item, _ in positions}) == 3 and len(positions) == 4
        swept = run("--now", "2027-03-15", "sweep")
        assert swept["deleted"] == 3 and swept["failures"] == []
        assert server.count("INBOX", user="coach") == server.count("INBOX", user="kollega") == 0
        with Session(engine) as s:
            entries = list(s.exec(select(LedgerEntry).where(LedgerEntry.action == "item-deleted")))
            assert len(entries) == 3 and all("source-copy-absent" in e.detail for e in entries)
        engine.dispose()
    finally:
        server.remove()
