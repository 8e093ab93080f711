"""The IMAP sync's logic on the in-memory mailbox: fast, and every server fault injectable.

The same behaviours against a real Dovecot are the integration tier
(tests/test_imap_sync.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from ingest.errors import LoginRefused, MailboxUnavailable
from ingest.mail import MailIngestor
from ingest.mail_sync import FolderReport, SyncOptions, sync_mailbox
from ingest.memory import MemoryMailbox
from ingest.tagging import TaggingRules
from models.clock import FixedClock
from models.policy import Policy
from models.tables import Item, SyncState, UnfetchedMessage
from storage.engine import make_engine, migrate
from storage.local import LocalBlobStore
from tests.mailgen import message

CLOCK = FixedClock.on(date(2026, 12, 4))


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def _sync(
    index: Engine, tmp_path: Path, policy: Policy, mailbox: MemoryMailbox, **options: object
) -> list[FolderReport]:
    rules = TaggingRules.build(own_addresses=["coach@example.org"])
    with MailIngestor(index, LocalBlobStore(tmp_path / "blobs"), policy, rules, CLOCK) as ingestor:
        return sync_mailbox(
            lambda: mailbox,
            ingestor,
            SyncOptions(retry_wait_seconds=0, **options),  # type: ignore[arg-type]
            source_name=mailbox.name,
            now=CLOCK.now(),
        )


def _new(reports: list[FolderReport]) -> int:
    return sum(r.summary.new for r in reports)


def _emails(index: Engine) -> list[Item]:
    with Session(index) as s:
        return list(s.exec(select(Item).where(Item.kind == "email")))


def test_first_then_incremental_sync(index: Engine, tmp_path: Path, policy: Policy) -> None:
    box = MemoryMailbox("practice")
    for n in range(5):
        box.add("INBOX", message(n))
    box.add("Sent", message(9))
    assert _new(_sync(index, tmp_path, policy, box, batch_size=2)) == 6
    box.add("INBOX", message(5))
    again = _sync(index, tmp_path, policy, box)
    assert _new(again) == 1 and len(_emails(index)) == 7
    with Session(index) as s:
        states = {st.folder: st.last_uid for st in s.exec(select(SyncState))}
    assert states == {"INBOX": 6, "Sent": 1}


def test_a_recreated_folder_is_reconciled_not_ingested_again(
    index: Engine, tmp_path: Path, policy: Policy
) -> None:
    box = MemoryMailbox("practice", folders=["INBOX"])
    for n in range(4):
        box.add("INBOX", message(n))
    _sync(index, tmp_path, policy, box)
    box.renumber("INBOX")
    box.add("INBOX", message(4))
    [report] = _sync(index, tmp_path, policy, box)
    assert report.reconciled and report.summary.new == 1 and len(_emails(index)) == 5


def test_a_dropped_connection_is_retried_from_the_last_commit(
    index: Engine, tmp_path: Path, policy: Policy
) -> None:
    box = MemoryMailbox("practice", folders=["INBOX"])
    for n in range(10):
        box.add("INBOX", message(n))
    box.drop_next_fetches = 2  # the batch, and its retry on a fresh connection
    reports = _sync(index, tmp_path, policy, box, batch_size=4)
    assert _new(reports) == 10 and len(_emails(index)) == 10
    assert sum(r.summary.unfetched for r in reports) == 0 and box.connects >= 2


def test_a_server_that_stays_down_gives_up_after_the_retries(
    index: Engine, tmp_path: Path, policy: Policy
) -> None:
    box = MemoryMailbox("practice", folders=["INBOX"])
    box.add("INBOX", message(0))
    box.down = True
    with pytest.raises(MailboxUnavailable, match="gave up after 3 retries"):
        _sync(index, tmp_path, policy, box)


def test_a_message_the_server_will_not_deliver_is_recorded_and_tried_again(
    index: Engine, tmp_path: Path, policy: Policy
) -> None:
    box = MemoryMailbox("practice", folders=["INBOX"])
    uids = [box.add("INBOX", message(n)) for n in range(5)]
    box.undeliverable.add(("INBOX", uids[2]))
    [first] = _sync(index, tmp_path, policy, box)
    assert (first.summary.new, first.summary.unfetched) == (4, 1)
    with Session(index) as s:
        [row] = s.exec(select(UnfetchedMessage))
        assert (row.uid, row.reason) == (
            uids[2],
            "the server would not deliver it (IMAPClientError)",
        )
    box.undeliverable.clear()
    [second] = _sync(index, tmp_path, policy, box)
    assert second.summary.new == 1
    with Session(index) as s:
        assert list(s.exec(select(UnfetchedMessage))) == []


def test_a_refused_login_is_never_retried(index: Engine, tmp_path: Path, policy: Policy) -> None:
    box = MemoryMailbox("practice")
    box.refuse_login = True
    with pytest.raises(LoginRefused):
        _sync(index, tmp_path, policy, box)
    assert box.connects == 1


def test_after_store_delete_removes_only_what_was_stored(
    index: Engine, tmp_path: Path, policy: Policy
) -> None:
    box = MemoryMailbox("practice", folders=["INBOX"])
    for n in range(3):
        box.add("INBOX", message(n))
    _sync(index, tmp_path, policy, box, after_store="delete")
    assert box.count("INBOX") == 0 and len(_emails(index)) == 3
