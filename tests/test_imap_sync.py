"""IMAP sync against a real Dovecot on loopback."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from gallra.settings import get_settings
from gallra.wiring import App
from ingest.errors import MailboxUnavailable
from ingest.imap import ImapConfig, ImapMailbox
from ingest.mail_sync import FolderReport, SyncOptions, sync_mailbox
from ingest.mailsource import FetchedMessage
from models.clock import FixedClock, SystemClock
from models.enums import ItemKind
from models.tables import Item, SyncState, UnfetchedMessage
from storage.engine import make_engine
from tests.conftest import Cli
from tests.dovecot import Dovecot
from tests.mailgen import message

pytestmark = pytest.mark.integration
PW_ENV = "GALLRA_TEST_IMAP_PASSWORD"


@pytest.fixture
def imap_cli(cli: Cli, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv(PW_ENV, dovecot.password)
    return cli


def source_toml(
    server: Dovecot, *, port: int | None = None, security: str = "none", extra: str = ""
) -> str:
    """A [[mail.sources]] entry named "practice" for this Dovecot."""
    return (
        "[[mail.sources]]\n"
        f'name = "practice"\nhost = "127.0.0.1"\nport = {port or server.port}\n'
        f'security = "{security}"\nuser = "{server.user}"\npassword_env = "{PW_ENV}"\n{extra}'
    )


def sync(cli: Cli, dovecot: Dovecot, *folders: str) -> dict[str, int]:
    url = f"imap://{dovecot.user}@127.0.0.1:{dovecot.port}"
    chosen = [arg for folder in folders for arg in ("--folder", folder)]
    result = cli("ingest", "mail", "--imap", url, "--password-env", PW_ENV, *chosen, "--json")
    assert result.code == 0, result.err
    data: dict[str, int] = result.json()
    return data


def email_items(home: Path) -> list[Item]:
    engine = make_engine(get_settings(home).index_url)
    with Session(engine) as s:
        items = list(s.exec(select(Item).where(Item.kind == ItemKind.EMAIL.value)))
    engine.dispose()
    return items


def test_first_and_incremental_sync_never_sets_seen(imap_cli: Cli, dovecot: Dovecot) -> None:
    inbox = [message(n) for n in range(20)]
    dovecot.append("INBOX", inbox)
    dovecot.append("Sent", [inbox[3], inbox[4], message(100), message(101), message(102)])
    first = sync(imap_cli, dovecot)
    assert (first["fetched"], first["new"], first["duplicates"]) == (25, 23, 2)
    with dovecot.client() as client:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search(["ALL"]))
        assert all(b"\\Seen" not in f for f in flags.values())
    dovecot.append("INBOX", [message(n) for n in range(20, 27)])
    second = sync(imap_cli, dovecot)
    assert (second["fetched"], second["new"]) == (7, 7)
    assert sync(imap_cli, dovecot)["fetched"] == 0
    items = email_items(imap_cli.home)
    assert len(items) == 30 and len({i.sha256 for i in items}) == 30
    assert all(i.source.startswith("imap:adhoc/") for i in items)
    swedish = next(i for i in items if i.title.endswith("nr 5: några tankar"))
    assert swedish.rule_id == "prospect"


def test_uidvalidity_change_is_reconciled_not_reingested(imap_cli: Cli, dovecot: Dovecot) -> None:
    messages = [message(n) for n in range(10)]
    dovecot.append("Klienter", messages)
    assert sync(imap_cli, dovecot, "Klienter")["new"] == 10
    dovecot.recreate("Klienter")
    dovecot.append("Klienter", [*messages, message(50), message(51), message(52)])
    after = sync(imap_cli, dovecot, "Klienter")
    assert (after["fetched"], after["new"], after["duplicates"]) == (3, 3, 0)
    assert len(email_items(imap_cli.home)) == 13
    engine = make_engine(get_settings(imap_cli.home).index_url)
    with Session(engine) as s, dovecot.client() as client:
        uidvalidity = client.select_folder("Klienter", readonly=True)[b"UIDVALIDITY"]
        state = s.exec(select(SyncState).where(SyncState.folder == "Klienter")).one()
        assert state.uidvalidity == uidvalidity and state.last_uid == 13
    engine.dispose()


def _config(server: Dovecot, *folders: str) -> ImapConfig:
    return ImapConfig(
        name="practice",
        host="127.0.0.1",
        port=server.port,
        user=server.user,
        secret=server.password,
        security="none",
        folders=folders,
    )


def _sync_direct(
    gallra: App, connect: Callable[[], ImapMailbox], options: SyncOptions
) -> list[FolderReport]:
    """`sync_mailbox` for source "practice" as the CLI runs it, with a chosen mailbox class."""
    with gallra.mail_ingestor() as ingestor:
        return sync_mailbox(
            connect, ingestor, options, source_name="practice", now=gallra.clock.now()
        )


class RestartingMailbox(ImapMailbox):
    """A real mailbox whose server is restarted just before its second FETCH."""

    def __init__(self, config: ImapConfig, server: Dovecot, calls: list[int]) -> None:
        super().__init__(config)
        self.server = server
        self.calls = calls

    def fetch(self, uids: Sequence[int]) -> list[FetchedMessage]:
        self.calls.append(len(uids))
        if len(self.calls) == 2:
            self.server.stop()
            self.server.start()
        return super().fetch(uids)


def test_server_restarted_mid_batch_resumes_without_loss(imap_cli: Cli, dovecot: Dovecot) -> None:
    dovecot.append("INBOX", [message(n) for n in range(20)])
    app_settings = get_settings(imap_cli.home)
    from gallra.wiring import App

    gallra = App(settings=app_settings, clock=FixedClock.on(date(2026, 11, 30)))
    config = _config(dovecot, "INBOX")
    calls: list[int] = []
    reports = _sync_direct(
        gallra,
        lambda: RestartingMailbox(config, dovecot, calls),
        SyncOptions(batch_size=5, retry_wait_seconds=0.1),
    )
    assert len(calls) == 5  # the interrupted batch was fetched again after reconnecting
    assert reports[0].summary.new == 20
    items = email_items(imap_cli.home)
    assert len(items) == 20 and len({i.sha256 for i in items}) == 20


class RecordingMailbox(ImapMailbox):
    """A real mailbox that records what each FETCH of whole messages returned."""

    def __init__(self, config: ImapConfig, fetches: list[list[FetchedMessage]]) -> None:
        super().__init__(config)
        self.fetches = fetches

    def fetch(self, uids: Sequence[int]) -> list[FetchedMessage]:
        fetched = super().fetch(uids)
        self.fetches.append(fetched)
        return fetched


def test_fetches_are_bounded_by_bytes_as_well_as_count(cli: Cli, dovecot: Dovecot) -> None:
    big = os.urandom(300_000)  # ~410 kB a message once base64-encoded
    sent = [message(n, attachment=big if n % 3 == 0 else None) for n in range(12)]
    dovecot.append("INBOX", sent)
    with ImapMailbox(_config(dovecot, "INBOX")) as mailbox:
        mailbox.select("INBOX")
        uids = mailbox.uids_after(0)
        assert sorted(mailbox.sizes(uids).values()) == sorted(len(m) for m in sent)

    gallra = App(settings=get_settings(cli.home), clock=FixedClock.on(date(2026, 11, 30)))
    fetches: list[list[FetchedMessage]] = []
    reports = _sync_direct(
        gallra,
        lambda: RecordingMailbox(_config(dovecot, "INBOX"), fetches),
        SyncOptions(batch_size=5, batch_bytes=600_000),
    )
    for batch in fetches:
        assert len(batch) <= 5
        assert len(batch) == 1 or sum(len(m.data) for m in batch) <= 600_000
    assert [len(b) for b in fetches] == [3, 3, 3, 3]  # by count alone: 5, 5, 2
    assert [m.uid for batch in fetches for m in batch] == uids
    assert reports[0].summary.new == 12
    assert len(email_items(cli.home)) == 12


def test_fetched_mail_reaches_no_log_even_at_debug(
    dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Confidential session note zebra4711."
    dovecot.append("INBOX", [message(1, body=secret + "\n")])
    caplog.set_level(logging.DEBUG, logger="imapclient")
    with ImapMailbox(_config(dovecot, "INBOX")) as mailbox:
        mailbox.select("INBOX")
        fetched = mailbox.fetch(mailbox.uids_after(0))
    assert b"zebra4711" in fetched[0].data
    assert caplog.records  # imapclient did log its commands at DEBUG
    assert not [r for r in caplog.records if "zebra4711" in r.getMessage()]
    assert not [r for r in caplog.records if dovecot.password in r.getMessage()]


def _maildir_put(server: Dovecot, messages: list[bytes], *, damaged: int) -> Path:
    """Files straight into the user's INBOX Maildir; message `damaged` claims 100 bytes more
    than it holds (S= in its name), which Dovecot refuses to deliver. Returns that file."""
    cur = server.root / "mail" / server.user / "cur"
    for path in (cur.parent, cur, cur.parent / "new", cur.parent / "tmp"):
        path.mkdir(exist_ok=True)
        os.chown(path, 5000, 5000)
    bad = cur
    for n, data in enumerate(messages):
        size = len(data) + (100 if n == damaged else 0)
        path = cur / f"{1700000000 + n}.M{n}P1.test,S={size}:2,"
        path.write_bytes(data)
        os.chown(path, 5000, 5000)
        bad = path if n == damaged else bad
    return bad


def _unfetched(home: Path) -> list[UnfetchedMessage]:
    engine = make_engine(get_settings(home).index_url)
    with Session(engine) as s:
        rows = list(s.exec(select(UnfetchedMessage)))
    engine.dispose()
    return rows


def test_a_message_the_server_will_not_deliver_does_not_stop_the_folder(
    imap_cli: Cli, dovecot: Dovecot
) -> None:
    """GIVEN a folder whose third message Dovecot cannot deliver (a damaged Maildir file)
    WHEN it is synced THEN the other six are ingested, the third is recorded, listed by
    doctor and tried again every run, and ingested once the server delivers it."""
    messages = [message(n) for n in range(7)]
    damaged = _maildir_put(dovecot, messages, damaged=2)

    first = sync(imap_cli, dovecot, "INBOX")
    assert (first["new"], first["unfetched"]) == (6, 1)
    [row] = _unfetched(imap_cli.home)
    assert (row.folder, row.attempts, row.reason) == (
        "INBOX",
        1,
        "the server would not deliver it (abort)",
    )
    doctor = imap_cli("doctor")
    assert doctor.code == 0 and "1 message the server would not deliver" in doctor.out
    assert f"INBOX uid {row.uid}" in doctor.out

    again = sync(imap_cli, dovecot, "INBOX")  # tried again first, and still refused
    assert (again["new"], again["duplicates"], again["unfetched"]) == (0, 0, 1)
    assert [r.attempts for r in _unfetched(imap_cli.home)] == [2]

    damaged.write_bytes(messages[2] + b" " * 100)  # the size it claims: the server delivers it
    repaired = sync(imap_cli, dovecot, "INBOX")
    assert (repaired["new"], repaired["unfetched"]) == (1, 0)
    assert _unfetched(imap_cli.home) == []
    items = email_items(imap_cli.home)
    assert len(items) == 7 and len({i.sha256 for i in items}) == 7


def test_ingest_delay_takes_older_mail_only_asking_in_bounded_commands(
    cli: Cli, dovecot: Dovecot
) -> None:
    """GIVEN 15,000 messages (more UIDs than Dovecot takes in one command: 64 kB), the
    first five received two days ago WHEN synced with a 24-hour ingest delay THEN those
    five are ingested, the rest wait for a later sync, and every date can be asked for."""
    count = 15_000
    tiny = [
        b"From: Ada Testsson <ada@example.invalid>\r\nSubject: n%d\r\n\r\nHej!\r\n" % n
        for n in range(count)
    ]
    _maildir_put(dovecot, tiny, damaged=-1)
    two_days_ago = time.time() - 48 * 3600
    cur = dovecot.root / "mail" / dovecot.user / "cur"
    for n in range(5):
        [path] = cur.glob(f"{1700000000 + n}.*")
        os.utime(path, (two_days_ago, two_days_ago))  # Dovecot's INTERNALDATE: the mtime
    with ImapMailbox(_config(dovecot, "INBOX")) as mailbox:
        mailbox.select("INBOX")
        uids = mailbox.uids_after(0)
        assert len(uids) == len(mailbox.internal_dates(uids)) == count

    gallra = App(settings=get_settings(cli.home), clock=SystemClock())
    for run in range(2):  # the second sync finds nothing new old enough
        [report] = _sync_direct(
            gallra,
            lambda: ImapMailbox(_config(dovecot, "INBOX")),
            SyncOptions(ingest_delay_hours=24),
        )
        assert report.summary.new == (5 if run == 0 else 0)
    assert sorted(i.title for i in email_items(cli.home)) == [f"n{n}" for n in range(5)]
    engine = make_engine(get_settings(cli.home).index_url)
    with Session(engine) as s:
        [state] = s.exec(select(SyncState))
    engine.dispose()
    assert state.last_uid == uids[4]


def test_a_message_the_server_will_not_deliver_does_not_stop_reconciling(
    imap_cli: Cli, dovecot: Dovecot
) -> None:
    """GIVEN a synced folder holding a message the server cannot deliver WHEN its
    UIDVALIDITY changes THEN the reconcile finds the rest by content hash and records
    that message again under the new numbering (the old record is forgotten)."""
    messages = [message(n) for n in range(5)]
    _maildir_put(dovecot, messages, damaged=3)
    assert sync(imap_cli, dovecot, "INBOX")["new"] == 4
    [before] = _unfetched(imap_cli.home)
    maildir = dovecot.root / "mail" / dovecot.user
    for state in [maildir / "dovecot-uidlist", *maildir.glob("dovecot.index*")]:
        state.unlink()  # Dovecot numbers the folder anew: a new UIDVALIDITY
    after = sync(imap_cli, dovecot, "INBOX")  # the four are known by Message-ID
    assert (after["new"], after["duplicates"], after["unfetched"]) == (0, 0, 1)
    [row] = _unfetched(imap_cli.home)
    assert row.uidvalidity != before.uidvalidity and row.attempts == 1
    assert len(email_items(imap_cli.home)) == 4


class NoMessageIdsMailbox(ImapMailbox):
    """A real mailbox whose server fails to give Message-IDs (as for a broken message)."""

    def message_ids(self, uids: Sequence[int]) -> dict[int, str | None]:
        raise MailboxUnavailable("mail source practice: FETCH failed")


def test_reconciling_without_message_ids_falls_back_to_the_content_hash(
    cli: Cli, dovecot: Dovecot
) -> None:
    messages = [message(n) for n in range(6)]
    dovecot.append("Klienter", messages)
    gallra = App(settings=get_settings(cli.home), clock=FixedClock.on(date(2026, 11, 30)))

    def run(kind: type[ImapMailbox]) -> FolderReport:
        [report] = _sync_direct(
            gallra, lambda: kind(_config(dovecot, "Klienter")), SyncOptions(batch_size=3)
        )
        return report

    assert run(ImapMailbox).summary.new == 6
    dovecot.recreate("Klienter")
    dovecot.append("Klienter", [*messages, message(60)])
    report = run(NoMessageIdsMailbox)
    assert report.reconciled
    summary = report.summary
    assert (summary.fetched, summary.new, summary.duplicates, summary.unfetched) == (7, 1, 6, 0)
    assert len(email_items(cli.home)) == 7


def _peak_rss_mb(argv: list[str], env: dict[str, str], log: Path) -> float:
    """Run a command to its end; its peak RSS (its children's included) in MB."""
    with log.open("wb") as err:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, log.read_text()
    return usage.ru_maxrss / 1024


def test_peak_memory_is_set_by_the_batch_not_the_mailbox(
    tmp_path: Path, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ~2.7 MB messages: 8 of them in one folder, 32 in the other (22 vs 87 MB). Batches of
    # 8 MB hold 2 of them, so both ingests hold as much at once; by count (100) the larger
    # folder would be one batch of 87 MB at each stage of the pipeline.
    attachment = os.urandom(2 * 1024 * 1024)
    dovecot.append("Small", [message(n, attachment=attachment + bytes([n])) for n in range(8)])
    for start in range(100, 132, 8):
        batch = range(start, start + 8)
        dovecot.append("Large", [message(n, attachment=attachment + bytes([n])) for n in batch])
    peaks: dict[str, float] = {}
    for folder in ("Small", "Large"):
        home = tmp_path / folder
        env = {
            **os.environ,
            "GALLRA_HOME": str(home),
            PW_ENV: dovecot.password,
            "GALLRA_MAIL__BATCH_MEGABYTES": "8",
        }
        assert subprocess.run([sys.executable, "-m", "gallra", "init"], env=env).returncode == 0
        url = f"imap://{dovecot.user}@127.0.0.1:{dovecot.port}"
        argv = [sys.executable, "-m", "gallra", "ingest", "mail", "--imap", url]
        argv += ["--password-env", PW_ENV, "--folder", folder, "--json"]
        peaks[folder] = _peak_rss_mb(argv, env, tmp_path / f"{folder}.err")
        assert len(email_items(home)) == (8 if folder == "Small" else 32)
    # Four times the mailbox (65 MB more) adds less than a third of that to the peak.
    assert peaks["Large"] - peaks["Small"] < 20, peaks


def test_after_store_delete_removes_server_copies_only_once_stored(
    imap_cli: Cli, dovecot: Dovecot
) -> None:
    dovecot.append("INBOX", [message(n) for n in range(6)])
    (imap_cli.home / "gallra.toml").write_text(
        source_toml(dovecot, extra='folders = ["INBOX"]\nafter_store = "delete"\n')
    )
    result = imap_cli("ingest", "mail", "--json")
    assert result.code == 0, result.err and result.json()["new"] == 6
    assert dovecot.count("INBOX") == 0
    assert len(email_items(imap_cli.home)) == 6


def test_wrong_password_is_one_clear_line(
    imap_cli: Cli, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PW_ENV, "not-the-password")
    url = f"imap://{dovecot.user}@127.0.0.1:{dovecot.port}"
    result = imap_cli("ingest", "mail", "--imap", url, "--password-env", PW_ENV)
    assert result.code == 2
    assert result.err.strip() == "gallra: mail source adhoc: login refused"


def _orphan_workers() -> set[int]:
    """Pids of multiprocessing children whose parent is gone (reparented to init)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == 1 and b"multiprocessing" in cmdline:
            found.add(int(proc.name))
    return found


def _invariants(home: Path) -> int:
    settings = get_settings(home)
    engine = make_engine(settings.index_url)
    gallra = App(settings=settings)
    blobs = gallra.blobs  # decrypting: every blob must authenticate and hash to its sha256
    with Session(engine) as s:
        items = list(s.exec(select(Item)))
        emails = [i for i in items if i.kind == ItemKind.EMAIL.value]
        assert len(emails) == len({i.sha256 for i in emails}), "a message was stored twice"
        for item in items:
            with blobs.open(item.blob_key) as stream:
                assert hashlib.sha256(stream.read()).hexdigest() == item.sha256
        orphans = set(blobs.keys()) - {i.blob_key for i in items}
        count = s.exec(
            select(func.count()).select_from(Item).where(Item.kind == ItemKind.EMAIL.value)
        ).one()
    engine.dispose()
    gallra.close()
    return len(orphans) * 1_000_000 + int(count)


def _item_count(home: Path) -> int:
    """Items committed so far (read-only, beside a running ingest)."""
    index = home / "index.db"
    if not index.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{index}?mode=ro", uri=True)) as db:
        try:
            return int(db.execute("SELECT count(*) FROM item").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def test_ingest_killed_at_random_points_ends_exact(imap_cli: Cli, dovecot: Dovecot) -> None:
    big = os.urandom(2 * 1024 * 1024)
    messages = [
        message(n, attachment=big[: (n % 3 + 1) * 512 * 1024] if n % 40 == 0 else None)
        for n in range(300)
    ]
    dovecot.append("INBOX", messages)
    url = f"imap://{dovecot.user}@127.0.0.1:{dovecot.port}"
    env = {**os.environ, "GALLRA_HOME": str(imap_cli.home), "GALLRA_MAIL__BATCH_SIZE": "5"}
    argv = [
        sys.executable,
        "-m",
        "gallra",
        "ingest",
        "mail",
        "--imap",
        url,
        "--password-env",
        PW_ENV,
        "--folder",
        "INBOX",
    ]
    rng = random.Random(5)
    orphans_before = _orphan_workers()
    kills = 0
    for _ in range(5):
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Kill mid-ingest, not during start-up: wait until this run has added items.
        before, deadline = _item_count(imap_cli.home), time.monotonic() + 60
        while proc.poll() is None and _item_count(imap_cli.home) == before:
            assert time.monotonic() < deadline, "the ingest made no progress"
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        _invariants(imap_cli.home)  # no duplicate, every blob matches (orphans adopted on re-run)
    assert kills >= 1
    final = subprocess.run(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert final.returncode == 0, final.stderr
    assert _invariants(imap_cli.home) == 300  # no orphan blob, every message exactly once
    # The killed runs' parse workers left with their parents: no orphan processes.
    deadline = time.monotonic() + 10
    while _orphan_workers() - orphans_before and time.monotonic() < deadline:
        time.sleep(0.25)
    assert _orphan_workers() - orphans_before == set()


def test_sweep_deletes_the_server_copy_only_when_enforcing_and_only_exact_bytes(
    imap_cli: Cli, dovecot: Dovecot
) -> None:
    """GIVEN a source that enforces retention WHEN its items expire THEN the sweep deletes
    their server copies in every folder, verified, and never a different message that
    merely reuses a Message-ID."""
    originals = [message(n) for n in range(3)]
    forged = originals[0].replace(
        b"Det h\xc3\xa4r \xc3\xa4r meddelande 0", b"Annat inneh\xc3\xa5ll"
    )
    assert forged != originals[0]
    dovecot.append("INBOX", [*originals, forged])
    dovecot.append("Sent", [originals[1]])
    (imap_cli.home / "gallra.toml").write_text(
        source_toml(dovecot, extra="enforce_retention = true\n")
    )
    ingested = imap_cli("ingest", "mail", "--json")
    assert ingested.code == 0, ingested.err
    assert ingested.json()["new"] == 4
    items = email_items(imap_cli.home)
    forged_item = next(i for i in items if i.sha256 == hashlib.sha256(forged).hexdigest())
    held = imap_cli("hold", "add", "--item", str(forged_item.id), "--reason", "granskas")
    assert held.code == 0, held.err
    swept = imap_cli("sweep", "--json", now="2027-03-15")
    assert swept.code == 0, swept.err
    assert swept.json()["deleted"] == 3 and swept.json()["failures"] == []
    assert dovecot.count("INBOX") == 1 and dovecot.count("Sent") == 0
    with dovecot.client() as client:
        client.select_folder("INBOX", readonly=True)
        [(_, data)] = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"]).items()
        assert data[b"BODY[]"] == forged
    engine = make_engine(get_settings(imap_cli.home).index_url)
    with Session(engine) as s:
        from models.tables import LedgerEntry

        details = [
            e.detail
            for e in s.exec(select(LedgerEntry).where(LedgerEntry.action == "item-deleted"))
        ]
        assert len(details) == 3 and all("source-copy-absent" in d for d in details)
    engine.dispose()


def test_sweep_with_the_server_down_keeps_items_and_retries(
    imap_cli: Cli, dovecot: Dovecot
) -> None:
    dovecot.append("INBOX", [message(n) for n in range(2)])
    (imap_cli.home / "gallra.toml").write_text(
        source_toml(dovecot, extra='enforce_retention = true\nfolders = ["INBOX"]\n')
    )
    assert imap_cli("ingest", "mail").code == 0
    dovecot.stop()
    down = imap_cli("sweep", "--json", now="2027-03-15")
    assert down.code == 1
    assert down.json()["deleted"] == 0
    assert {f["reason"] for f in down.json()["failures"]} == {
        "source copy: server unavailable (MailboxUnavailable)"
    }
    assert len(email_items(imap_cli.home)) == 2
    pending = imap_cli("doctor", "--json").json()["deleting"]  # never forgotten: listed
    assert [p["at"] for p in pending] == [["imap:practice/INBOX"]] * 2
    dovecot.start()
    up = imap_cli("sweep", "--json", now="2027-03-16")
    assert up.code == 0 and up.json()["resumed"] == 2 and up.json()["deleted"] == 2
    assert dovecot.count("INBOX") == 0


@pytest.mark.parametrize(("security", "use_tls_port"), [("tls", True), ("starttls", False)])
def test_tls_and_starttls_verify_the_server(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, security: str, use_tls_port: bool
) -> None:
    """GIVEN a server with its own certificate THEN gallra connects only when told to trust it."""
    server = Dovecot(tls=True)
    server.start()
    try:
        monkeypatch.setenv(PW_ENV, server.password)
        server.append("INBOX", [message(1), message(2)])
        port = server.tls_port if use_tls_port else server.port
        source = source_toml(server, port=port, security=security, extra='folders = ["INBOX"]\n')
        (cli.home / "gallra.toml").write_text(source)
        untrusted = cli("ingest", "mail")
        assert untrusted.code == 2 and "cannot connect" in untrusted.err  # unknown CA refused
        (cli.home / "gallra.toml").write_text(source + f'ca_file = "{server.ca_file}"\n')
        trusted = cli("ingest", "mail", "--json")
        assert trusted.code == 0, trusted.err
        assert trusted.json()["new"] == 2
    finally:
        server.remove()


def test_xoauth2_login_with_a_token_from_the_environment(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a server checking OAuth2 tokens THEN a valid token logs in, a wrong one is refused."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from urllib.parse import parse_qs

    from tests.servers import free_port

    token = "token-for-tests-only"

    class Introspection(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            active = parse_qs(body).get("token", [""])[0] == token
            data = json.dumps({"active": active, "username": "coach"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    introspection = HTTPServer(("127.0.0.1", port), Introspection)
    threading.Thread(target=introspection.serve_forever, daemon=True).start()
    server = Dovecot(oauth2_introspection_url=f"http://127.0.0.1:{port}/introspect")
    server.start()
    try:
        server.append("INBOX", [message(1), message(2)])
        (cli.home / "gallra.toml").write_text(
            "[[mail.sources]]\n"
            f'name = "practice"\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "none"\n'
            f'user = "{server.user}"\noauth2_token_env = "GALLRA_TEST_TOKEN"\nfolders = ["INBOX"]\n'
        )
        monkeypatch.setenv("GALLRA_TEST_TOKEN", "expired-token")
        refused = cli("ingest", "mail")
        assert (
            refused.code == 2
            and refused.err.strip() == "gallra: mail source practice: login refused"
        )
        monkeypatch.setenv("GALLRA_TEST_TOKEN", token)
        accepted = cli("ingest", "mail", "--json")
        assert accepted.code == 0, accepted.err
        assert accepted.json()["new"] == 2
        assert "method=XOAUTH2" in (server.root / "dovecot.log").read_text()
    finally:
        server.remove()
        introspection.shutdown()
        introspection.server_close()


def test_progress_is_shown_on_a_terminal_only(imap_cli: Cli, dovecot: Dovecot) -> None:
    dovecot.append("INBOX", [message(n) for n in range(150)])
    env = {**os.environ, "GALLRA_HOME": str(imap_cli.home), "GALLRA_MAIL__PARSE_WORKERS": "0"}
    command = (
        f"{sys.executable} -m gallra ingest mail --imap "
        f"imap://{dovecot.user}@127.0.0.1:{dovecot.port} --password-env {PW_ENV}"
    )
    on_tty = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        env=env,
        timeout=300,
        capture_output=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert on_tty.returncode == 0, on_tty.stdout[-2000:]
    assert b"INBOX: 100/150 messages" in on_tty.stdout and b"INBOX: 150/150" in on_tty.stdout
    dovecot.append("INBOX", [message(n) for n in range(150, 160)])
    piped = subprocess.run(
        command.split(),
        env=env,
        timeout=300,
        capture_output=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert piped.returncode == 0 and b"messages" not in piped.stderr  # no progress when piped
