"""Every message in the shared corpus ingests: stored, indexed, nothing lost."""

from __future__ import annotations

import email
import hashlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from ingest.archives import batched, read_eml_dir, read_files, read_maildir, read_mbox
from ingest.mail import MailIngestor, RawMessage
from ingest.parse import ParsedMessage
from ingest.parse_pool import PARSE_NICENESS, ParsePool
from ingest.tagging import TaggingRules
from models.clock import FixedClock
from models.enums import ItemKind, ParseStatus
from models.policy import Policy
from models.tables import Item, ItemText
from storage.engine import make_engine, migrate
from storage.local import LocalBlobStore
from tests.conftest import CORPORA
from tests.mailgen import message as generated

EMAIL = CORPORA / "email"
MIMEKIT = EMAIL / "mimekit" / "UnitTests" / "TestData"


def corpus_messages() -> Iterator[RawMessage]:
    """Every message file, mbox and Maildir in the corpus."""
    yield from read_eml_dir(EMAIL)
    yield from read_files(sorted((MIMEKIT / "messages").glob("*.txt")), source="eml:messages")
    yield from read_files([MIMEKIT / "smime" / "thunderbird-signed.txt"], source="eml:smime")
    for mbox in sorted((MIMEKIT / "mbox").iterdir()):
        yield from read_mbox(mbox)
    yield from read_maildir(EMAIL / "stalwart-mail-parser" / "resources" / "maildir")


@pytest.mark.parametrize("workers", [0, 2], ids=["inline", "2-parse-workers"])
def test_the_whole_corpus_ingests_with_nothing_lost(
    tmp_path: Path, policy: Policy, workers: int, corpora: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    migrate(engine)
    blobs = LocalBlobStore(tmp_path / "blobs")
    rules = TaggingRules.build(own_addresses=["coach@example.org"])
    ingestor = MailIngestor(
        engine, blobs, policy, rules, FixedClock.on(date(2026, 11, 30)), parse_workers=workers
    )
    messages = list(corpus_messages())
    distinct = {hashlib.sha256(m.data).hexdigest() for m in messages}
    assert len(messages) >= 145  # 73 files + 28 .txt messages + 39 in mbox files + 6 Maildir
    total = ingestor.finish_pending()
    if workers:  # the pipelined path (batch k+1 stored while batch k is indexed)
        for summary in ingestor.ingest_stream((b, None) for b in batched(messages, 25)):
            total.add(summary)
    else:
        for batch in batched(messages, 25):
            total.add(ingestor.ingest_batch(batch))
    assert total.new == len(distinct)
    assert total.tagged_one_by_one == 0  # the bulk path took every batch
    assert total.new + total.duplicates == len(messages)
    with Session(engine) as s:
        emails = list(s.exec(select(Item).where(Item.kind == ItemKind.EMAIL.value)))
        assert {e.sha256 for e in emails} == distinct
        statuses = {e.parse_status for e in emails}
        assert ParseStatus.PENDING.value not in statuses
        for item in emails:
            with blobs.open(item.blob_key) as stream:
                assert hashlib.sha256(stream.read()).hexdigest() == item.sha256
            assert item.expires_at is not None and item.rule_id
            if item.parse_status == ParseStatus.ERROR.value:
                assert item.parse_error
        texts = s.exec(select(func.count()).select_from(ItemText)).one()
        assert texts == s.exec(select(func.count()).select_from(Item)).one()
        attachments = s.exec(
            select(func.count())
            .select_from(Item)
            .where(col(Item.kind) == ItemKind.ATTACHMENT.value)
        ).one()
        assert attachments > 30
    again = ingestor.ingest_batch(messages[:40])
    assert (again.new, again.duplicates) == (0, 40)
    ingestor.close()
    engine.dispose()


@pytest.mark.parametrize("ahead", [1, 2, 3])
def test_batches_prepared_together_commit_in_order_and_a_shared_message_once(
    tmp_path: Path, policy: Policy, ahead: int
) -> None:
    """GIVEN 8 batches, one message in three consecutive ones (so in flight together)
    WHEN they stream through with 1, 2 or 3 batches prepared ahead
    THEN the commits run in the batches' order, that message is one item whose blob
    holds its bytes, each later copy counts as a duplicate, and no temp file is left."""
    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    migrate(engine)
    blobs = LocalBlobStore(tmp_path / "blobs")
    rules = TaggingRules.build(own_addresses=["coach@example.org"])
    ingestor = MailIngestor(
        engine, blobs, policy, rules, FixedClock.on(date(2026, 11, 30)), parse_workers=2
    )
    shared = RawMessage(generated(99), "eml:shared", "99")
    batches = [
        [RawMessage(generated(10 * b + n), "eml:gen", f"{b}.{n}") for n in range(8)]
        + ([shared] if b in (2, 3, 4) else [])
        for b in range(8)
    ]
    committed: list[int] = []

    def note(index: int) -> Callable[[Session], None]:
        return lambda _session: committed.append(index)

    stream = ((batch, note(index)) for index, batch in enumerate(batches))
    with ingestor:
        summaries = list(ingestor.ingest_stream(stream, ahead=ahead))
    assert committed == list(range(8))
    assert [s.new for s in summaries] == [8, 8, 9, 8, 8, 8, 8, 8]
    assert [s.duplicates for s in summaries] == [0, 0, 0, 1, 1, 0, 0, 0]
    sha = hashlib.sha256(shared.data).hexdigest()
    with Session(engine) as s:
        items = list(s.exec(select(Item).where(Item.sha256 == sha)))
        assert len(items) == 1 and items[0].parse_status != ParseStatus.PENDING.value
        with blobs.open(items[0].blob_key) as stream_:
            assert stream_.read() == shared.data
    assert not list((tmp_path / "blobs" / ".tmp").iterdir())
    engine.dispose()


def test_parse_workers_yield_the_cores_to_the_committing_process(
    tmp_path: Path, policy: Policy
) -> None:
    """GIVEN an ingest with two parse workers WHEN a batch is parsed by them
    THEN both run PARSE_NICENESS below this process, and the batch is indexed."""
    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    migrate(engine)
    rules = TaggingRules.build(own_addresses=["coach@example.org"])
    ingestor = MailIngestor(
        engine,
        LocalBlobStore(tmp_path / "blobs"),
        policy,
        rules,
        FixedClock.on(date(2026, 11, 30)),
        parse_workers=2,
    )
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    with ingestor:
        summary = ingestor.ingest_batch(
            [RawMessage(generated(n), "eml:gen", str(n)) for n in range(12)]
        )
        workers = [w.pid for w in multiprocessing.active_children() if w.pid is not None]
        assert len(workers) == 2
        # A worker the batch did not need may still be starting: its initializer sets it.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            os.getpriority(os.PRIO_PROCESS, pid) == mine for pid in workers
        ):
            time.sleep(0.05)
        for pid in workers:
            assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, mine + PARSE_NICENESS)
    assert summary.new == 12 and summary.parse_errors == 0
    engine.dispose()


def test_every_corpus_attachment_decodes_as_the_standard_library_decodes_it() -> None:
    """GIVEN every part of every corpus message THEN the fast decoder returns exactly
    what `get_payload(decode=True)` returns (base64 and every other encoding)."""
    from ingest.mime_split import decoded_payload

    parts = 0
    for message in corpus_messages():
        for part in email.message_from_bytes(message.data).walk():
            if part.is_multipart():
                continue
            try:
                expected = part.get_payload(decode=True)
            except (ValueError, AssertionError, TypeError, LookupError):
                continue
            assert decoded_payload(part) == expected, message.source_ref
            parts += 1
    assert parts > 200


def test_maildir_with_a_tools_dot_folder_and_a_real_subfolder(tmp_path: Path) -> None:
    """GIVEN a Maildir holding notmuch's .notmuch/ beside a real .Sent folder
    THEN the tool's folder is passed over and every message of both mail folders is read."""
    root = tmp_path / "Maildir"
    for folder in (root, root / ".Sent"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True)
    (root / ".notmuch" / "xapian").mkdir(parents=True)
    (root / "cur" / "1.a:2,S").write_bytes(b"Subject: one\r\n\r\nbody\r\n")
    (root / ".Sent" / "cur" / "2.b:2,S").write_bytes(b"Subject: two\r\n\r\nbody\r\n")
    found = {(m.source, m.source_ref.split(".")[0]) for m in read_maildir(root)}
    assert found == {("maildir:Maildir/INBOX", "1"), ("maildir:Maildir/Sent", "2")}


def test_the_fast_path_reads_every_corpus_message_as_the_full_parser_does() -> None:
    """GIVEN every message of the corpus WHEN a one-part text message takes the fast path
    THEN it reads exactly as through Python's full MIME parser (headers, text, problems)."""
    from dataclasses import asdict

    from ingest.parse import _parse, _single_text_part

    fast_ones = 0
    for message in corpus_messages():
        fast = _single_text_part(message.data)
        if fast is None:
            continue
        fast_ones += 1
        full = _parse(email.message_from_bytes(message.data))
        assert asdict(fast) == asdict(full), message.source_ref
    assert fast_ones >= 8  # the corpus is mostly MIME edge cases; most real letters are not
    crafted = [
        generated(1),  # quoted-printable Swedish
        generated(2, body="Hej\r\nmed CRLF\r\n" * 3),
        b"Subject: =?iso-8859-1?q?M=F6te?=\nContent-Type: text/plain; charset=iso-8859-1\n"
        b"Content-Transfer-Encoding: 8bit\n\nS\xf6mn och \xe5ngest\n",
        b"Subject: b64\nContent-Type: text/html; charset=utf-8\n"
        b"Content-Transfer-Encoding: base64\n\nPHA+SMOkbHNhbjwvcD4=\n",
        b"Subject: yes\nContent-Type: text/plain; charset=yes\n\nBody \xc3\xa5\n",
        b"From: A <a@example.se>\nTo: unlisted-recipients:;\n\nhej\n",
    ]
    for raw in crafted:
        fast = _single_text_part(raw)
        assert fast is not None
        assert asdict(fast) == asdict(_parse(email.message_from_bytes(raw)))


def test_multipart_split_reads_every_corpus_message_as_the_full_parser_does() -> None:
    """GIVEN every message of the corpus WHEN a multipart message is split at its boundaries
    THEN it reads exactly as through the feed parser; the irregular ones are left to it."""
    from dataclasses import asdict

    from ingest.mime_split import multipart_tree
    from ingest.parse import _parse

    split_ones = 0
    samples = [m.data for m in corpus_messages()]
    samples += [
        generated(3, attachment=b"%PDF-1.4 " * 50_000, attachment_name="faktura.pdf"),
        generated(4, attachment=bytes(range(256)) * 100),
    ]
    for raw in samples:
        tree = multipart_tree(raw)
        if tree is None:
            continue
        split_ones += 1
        assert asdict(_parse(tree)) == asdict(_parse(email.message_from_bytes(raw)))
    assert split_ones >= 20


def test_a_message_in_two_batches_in_flight_is_indexed_once(
    tmp_path: Path, policy: Policy, engine: Engine
) -> None:
    """GIVEN batch 2 stored (and looked up) before batch 1 commits, both holding one message
    (INBOX and Sent) THEN the commit of batch 2 finds it indexed: one item, one duplicate."""
    blobs = LocalBlobStore(tmp_path / "blobs")
    rules = TaggingRules.build(own_addresses=["coach@example.org"])
    ingestor = MailIngestor(engine, blobs, policy, rules, FixedClock.on(date(2026, 11, 30)))
    same, other = generated(1), generated(2)
    first = ingestor._prepare([RawMessage(same, "imap:x/INBOX", "1:1")])
    second = ingestor._prepare(
        [RawMessage(same, "imap:x/Sent", "1:7"), RawMessage(other, "imap:x/Sent", "1:8")]
    )
    done = [ingestor._finish(first, None), ingestor._finish(second, None)]
    assert [(s.new, s.duplicates) for s in done] == [(1, 0), (1, 1)]
    with Session(engine) as s:
        emails = list(s.exec(select(Item).where(Item.kind == ItemKind.EMAIL.value)))
    assert len(emails) == 2 and {e.source_ref for e in emails} == {"1:1", "1:8"}
    assert all(e.parse_status == ParseStatus.OK.value for e in emails)


def test_a_parse_that_breaks_still_commits_the_stored_messages(
    tmp_path: Path, policy: Policy, engine: Engine
) -> None:
    """GIVEN the parse workers die while a batch is parsed (BrokenProcessPool)
    THEN the stored messages are committed `pending` before the error goes on,
    and the next run's finish_pending parses and tags them: nothing lost."""
    from concurrent.futures.process import BrokenProcessPool

    blobs = LocalBlobStore(tmp_path / "blobs")
    rules = TaggingRules.build(own_addresses=["coach@example.org"])
    clock = FixedClock.on(date(2026, 11, 30))

    class BrokenPool(ParsePool):
        def later(self, datas: list[bytes]) -> Callable[[], list[ParsedMessage]]:
            def collect() -> list[ParsedMessage]:
                raise BrokenProcessPool("a parse worker died")

            return collect

    ingestor = MailIngestor(engine, blobs, policy, rules, clock, parser=BrokenPool())
    batch = [
        RawMessage(generated(n, attachment=b"%PDF-1.4 faktura" if n == 2 else None), "x", str(n))
        for n in range(1, 4)
    ]

    with pytest.raises(BrokenProcessPool):
        ingestor.ingest_batch(batch)
    with Session(engine) as s:
        statuses = [e.parse_status for e in s.exec(select(Item))]
    assert statuses == [ParseStatus.PENDING.value] * 3
    done = MailIngestor(engine, blobs, policy, rules, clock).finish_pending()
    assert (done.new, done.parse_errors, done.attachments) == (0, 0, 1)
    with Session(engine) as s:
        items = list(s.exec(select(Item)))
    assert len(items) == 4 and ParseStatus.PENDING.value not in {i.parse_status for i in items}
