"""Findings of the outside audit (issue 26), each reproduced: secrets off the command line,
file modes, downloads with any name, no 500 for hostile input, refused plaintext."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import make_url

from gallra.web.app import create_app
from models.clock import FixedClock
from storage.backup import restore_index, write_backup
from storage.engine import make_engine, migrate
from storage.local import LocalBlobStore
from tests.servers import postgres_database

MARKER = "Hemligt-Losen-7731"


def _watch(stop: threading.Event, seen: dict[str, int]) -> None:
    """Read every process's argument vector, as `ps` does, until told to stop."""
    while not stop.is_set():
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
                )
            except OSError:
                continue
            for program in ("pg_dump", "pg_restore"):
                if program in argv:
                    seen[program] = seen.get(program, 0) + 1
            if MARKER in argv:
                seen["marker"] = seen.get("marker", 0) + 1
                seen[f"shown by: {argv[:80]}"] = 1
        time.sleep(0.001)


@pytest.mark.integration
def test_pg_dump_and_pg_restore_never_show_the_password(tmp_path: Path) -> None:
    """GIVEN an index URL with a password WHEN a backup and a restore run THEN `ps` (every
    process's argv) never shows the password, though it shows pg_dump and pg_restore."""
    with postgres_database() as plain:
        url = make_url(plain).set(username="postgres", password=MARKER)
        index_url = url.render_as_string(hide_password=False)
        engine = make_engine(index_url)  # trust auth: the server ignores the password
        migrate(engine)
        blobs = LocalBlobStore(tmp_path / "blobs")
        seen: dict[str, int] = {}
        for _ in range(5):  # until the watcher has caught both programs running
            stop = threading.Event()
            watcher = threading.Thread(target=_watch, args=(stop, seen))
            watcher.start()
            try:
                backup = write_backup(
                    engine, index_url, blobs, FixedClock.on(date(2026, 12, 6)).now(), tmp_path
                )
                restore_index(engine, index_url, blobs, backup.key)
            finally:
                stop.set()
                watcher.join()
            if seen.get("pg_dump") and seen.get("pg_restore"):
                break
        engine.dispose()
    assert seen.get("pg_dump") and seen.get("pg_restore"), seen
    assert "marker" not in seen


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_home_and_index_files_are_private(tmp_path: Path) -> None:
    """GIVEN a home folder that already existed with 0755 WHEN gallra init runs THEN the home
    is 0700 and index.db*, keys.db* and the secrets are 0600, and so are files written by
    `export --out` and `item get --out`."""
    from tests.conftest import Cli

    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    cli = Cli(home, now="2026-11-30")
    assert cli("init").code == 0 and cli("demo").code == 0
    assert _mode(home) == 0o700
    out = tmp_path / "out"
    out.mkdir()
    assert cli("export", "1", "--out", str(out / "export.zip")).code == 0
    assert cli("item", "get", "1", "--out", str(out / "item.eml")).code == 0
    private = [
        *home.glob("index.db*"),
        *home.glob("keys.db*"),
        *(home / "secrets").iterdir(),
        out / "export.zip",
        out / "item.eml",
    ]
    assert len(private) >= 5
    loose = {str(p.relative_to(tmp_path)): oct(_mode(p)) for p in private if _mode(p) & 0o077}
    assert loose == {}
    for folder, _, files in os.walk(home):
        for name in files:
            path = Path(folder) / name
            assert not _mode(path) & 0o007, f"{path.relative_to(home)} is readable by others"


def test_a_password_in_an_imap_url_is_refused(tmp_path: Path) -> None:
    from tests.conftest import Cli

    cli = Cli(tmp_path / "home")
    assert cli("init").code == 0
    done = cli(
        "ingest", "mail", "--imap", "imap://coach:Hemligt@127.0.0.1:143", "--password-env", "X"
    )
    assert done.code == 2 and "password in the URL is refused" in done.err
    assert "Hemligt" not in done.err


def test_plaintext_imap_to_another_machine_is_refused(tmp_path: Path) -> None:
    """GIVEN a source with security = "none" to a host that is not this machine THEN ingest
    refuses before connecting, naming the source and the fix; allow_plaintext lets it try."""
    from tests.conftest import Cli

    cli = Cli(tmp_path / "home")
    assert cli("init").code == 0
    toml = tmp_path / "home" / "gallra.toml"
    source = (
        '\n[[mail.sources]]\nname = "practice"\nhost = "mail.example.invalid"\nport = 143\n'
        'security = "none"\nuser = "coach"\npassword_env = "GALLRA_TEST_PW"\n'
    )
    toml.write_text(toml.read_text(encoding="utf-8") + source, encoding="utf-8")
    os.environ["GALLRA_TEST_PW"] = "x"
    refused = cli("ingest", "mail")
    assert refused.code == 2
    assert "plain IMAP to mail.example.invalid" in refused.err and "practice" in refused.err
    toml.write_text(toml.read_text(encoding="utf-8") + "allow_plaintext = true\n", encoding="utf-8")
    tried = cli("ingest", "mail")  # now it tries, and the name does not resolve
    assert "plain IMAP" not in tried.err and "mail.example.invalid" in tried.err


def test_erase_tells_its_own_deletions_apart_from_the_sweeps_others(tmp_path: Path) -> None:
    """GIVEN the demo practice, where three items of other people are due tonight WHEN one
    person is erased THEN the certificate counts only theirs, and says how many others the
    same sweep deleted because they were due anyway."""
    from tests.conftest import Cli

    cli = Cli(tmp_path / "home", now="2026-11-30")
    assert cli("init").code == 0 and cli("demo").code == 0
    people = {p["name"]: p["id"] for p in cli("subject", "list", "--json").json()}
    david = people["David Ek (demo)"]
    cert = cli("erase", str(david), "--json").json()
    assert len(cert["deleted"]) == 1 and cert["others_swept"] == 3
    text = cli("ledger", "verify").out
    assert "ok" in text.lower()


_SLOW_PUT = """
import sys, time
from pathlib import Path
from storage.local import LocalBlobStore

class Slow:
    def __init__(self):
        self.sent = 0
    def read(self, n=-1):
        if self.sent > 3:
            print("writing", flush=True)
            time.sleep(600)
        self.sent += 1
        return b"x" * 65536

LocalBlobStore(Path(sys.argv[1])).put("mail/aa/" + "a" * 64, Slow(), hashed=False)
"""


def _put_until_killed(blobs: Path, tmp_path: Path, *, kill: bool) -> subprocess.Popen[str]:
    script = tmp_path / "slow_put.py"
    script.write_text(_SLOW_PUT, encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, str(script), str(blobs)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "writing"
    if kill:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    return child


def test_a_killed_runs_temporaries_go_at_the_next_run_and_a_live_ones_stay(
    tmp_path: Path,
) -> None:
    """GIVEN a process killed while writing a blob (its temporary left in the store) and
    another still writing WHEN the next ingest starts THEN the dead one's temporary is
    removed at once, and the live one's is not touched."""
    from tests.conftest import Cli

    home = tmp_path / "home"
    cli = Cli(home)
    assert cli("init").code == 0
    temp = home / "blobs" / ".tmp"
    _put_until_killed(home / "blobs", tmp_path, kill=True)
    left = list(temp.iterdir())
    assert len(left) == 1  # what the killed put left
    live = _put_until_killed(home / "blobs", tmp_path, kill=False)
    try:
        (tmp_path / "eml").mkdir()
        assert cli("ingest", "mail", "--eml-dir", str(tmp_path / "eml")).code == 0
        remaining = list(temp.iterdir())
        assert left[0] not in remaining and len(remaining) == 1  # the live writer's only
        assert f"-{live.pid}-" in remaining[0].name
    finally:
        live.kill()
        live.wait()
        assert live.stdout is not None
        live.stdout.close()
    assert cli("sweep").code == 0  # the sweep removes it too once its owner is gone
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize(
    "engine_kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def test_a_restore_brings_back_no_old_password_and_no_ended_session(
    engine_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a backup taken while the old password and a browser's session were valid WHEN
    the password is changed (ending that session) and the backup is restored THEN the old
    password and the old session open nothing, and the new password works."""
    from contextlib import nullcontext

    from gallra.settings import get_settings
    from gallra.wiring import App, parse_now
    from tests.conftest import Cli
    from tests.web_support import PASSWORD, client_for, log_in

    with postgres_database() if engine_kind == "postgresql" else nullcontext("") as url:
        if url:
            monkeypatch.setenv("GALLRA_INDEX__URL", url)
        monkeypatch.setenv("GALLRA_TEST_OLD_PW", PASSWORD)
        monkeypatch.setenv("GALLRA_TEST_NEW_PW", "ett helt nytt lösenord")
        cli = Cli(tmp_path / "home", now="2026-11-30")
        assert cli("init", "--web-password-env", "GALLRA_TEST_OLD_PW").code == 0
        gallra = App(settings=get_settings(cli.home), clock=parse_now("2026-11-30"))
        browser = client_for(gallra)
        assert log_in(browser).headers["location"] == "/"
        assert browser.get("/", follow_redirects=False).status_code == 200
        assert cli("backup").code == 0
        assert cli("passwd", "--password-env", "GALLRA_TEST_NEW_PW").code == 0
        assert browser.get("/", follow_redirects=False).status_code == 303  # ended
        restored = cli("restore", "--latest", "--yes")
        assert restored.code == 0, restored.err
        gallra.close()
        gallra = App(settings=get_settings(cli.home), clock=parse_now("2026-11-30"))
        browser.app = create_app(gallra)  # the restored index, same cookies
        assert browser.get("/", follow_redirects=False).status_code == 303  # still ended
        assert log_in(client_for(gallra)).headers["location"] == "/login?failed=1"
        fresh = log_in(client_for(gallra), password="ett helt nytt lösenord")
        assert fresh.headers["location"] == "/"
        gallra.close()


def test_a_refused_file_is_kept_encrypted_tied_to_its_person_and_deleted_on_time(
    tmp_path: Path,
) -> None:
    """GIVEN a text file named after a client's address dropped as a recording, and another
    refused file of nobody's WHEN they are ingested THEN nothing under GALLRA_HOME holds the
    file's text or the address in a name; doctor lists both; erasing the client deletes hers;
    the other goes after the quarantine rule's 30 days, ledgered."""
    from tests.conftest import Cli
    from tests.test_recordings import settle

    home = tmp_path / "home"
    cli = Cli(home, now="2026-11-02")
    assert cli("init").code == 0
    karin = cli(
        "subject", "add", "--name", "Karin Sjöberg", "--email", "karin.sjoberg@example.se", "--json"
    ).json()
    drop = tmp_path / "drop"
    drop.mkdir()
    marker = "ANTECKNING-om-Karin-7781"
    (drop / "karin.sjoberg@example.se-2026-11-01.mp3").write_text(marker, encoding="utf-8")
    (drop / "okand.mp3").write_text("inte ljud heller, 4412", encoding="utf-8")
    settle(drop)
    taken = cli("ingest", "recordings", "--dir", str(drop), "--json")
    assert taken.code == 0 and taken.json()["quarantined"] == 2
    assert list(drop.iterdir()) == []
    for folder, _, files in os.walk(home):
        for name in files:
            path = Path(folder) / name
            assert "karin" not in name.lower(), path
            assert marker.encode() not in path.read_bytes(), path
    doctor = cli("doctor", "--json").json()
    assert len(doctor["quarantined"]) == 2
    assert all(q["reason"].startswith("content is text/plain") for q in doctor["quarantined"])
    erased = cli("erase", str(karin["id"]), "--json").json()
    assert len(erased["deleted"]) == 1
    assert len(cli("doctor", "--json").json()["quarantined"]) == 1
    early = cli("sweep", "--json", now="2026-12-01").json()  # day 29: still kept
    assert early["deleted"] == 0
    late = cli("sweep", "--json", now="2026-12-03").json()
    assert late["deleted"] == 1 and late["deleted_by_rule"] == {"quarantine": 1}
    assert cli("doctor", "--json").json()["quarantined"] == []
    assert cli("ledger", "verify").code == 0


def test_an_unreachable_s3_endpoint_is_named_not_an_internal_error(tmp_path: Path) -> None:
    """GIVEN the blob store's S3 endpoint down WHEN doctor --verify and a backup run THEN each
    names the part and its address in one line (exit 2), never "internal error" (exit 70)."""
    import socket

    from tests.conftest import Cli

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    home = tmp_path / "home"
    home.mkdir()
    (home / "gallra.toml").write_text(
        f'[blobs]\nbackend = "s3"\nbucket = "arkiv"\nendpoint_url = "http://127.0.0.1:{port}"\n',
        encoding="utf-8",
    )
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ["AWS_MAX_ATTEMPTS"] = "1"
    cli = Cli(home)
    assert cli("init").code in (0, 2)  # init itself reaches for the store
    for args in (("doctor", "--verify"), ("backup",)):
        done = cli(*args)
        assert done.code == 2, (args, done.err)
        assert f"S3 http://127.0.0.1:{port} (bucket arkiv): unreachable" in done.err, done.err
        assert "internal error" not in done.err and len(done.err.strip().splitlines()) == 1


def test_totp_enrolment_shows_a_qr_code_on_a_terminal_only(tmp_path: Path) -> None:
    """GIVEN a web login WHEN `gallra passwd --totp` runs on a terminal THEN it prints the
    otpauth URI, a QR code and 10 recovery codes; unattended (no terminal) no QR code."""
    import pty

    from tests.web_support import PASSWORD

    home = tmp_path / "home"
    env = {**os.environ, "GALLRA_HOME": str(home), "GALLRA_TEST_PW": PASSWORD}
    gallra = [sys.executable, "-m", "gallra"]
    subprocess.run(
        [*gallra, "init", "--web-password-env", "GALLRA_TEST_PW"],
        env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    leader, follower = pty.openpty()
    run = subprocess.Popen(
        [*gallra, "passwd", "--totp"], env=env, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    assert run.wait(timeout=60) == 0
    os.close(leader)
    text = shown.decode("utf-8", "replace")
    assert "otpauth://totp/gallra:coach?secret=" in text
    assert "█" in text or "▀" in text  # the QR code
    plain = subprocess.run(
        [*gallra, "passwd", "--totp"], env=env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, check=True,
    )  # fmt: skip
    assert "otpauth://" in plain.stdout and "█" not in plain.stdout
    assert (
        len(
            [
                line
                for line in plain.stdout.splitlines()
                if re.fullmatch(r"  [0-9a-f]{6}-[0-9a-f]{6}", line)
            ]
        )
        == 10
    )


@pytest.mark.integration
def test_a_postgresql_index_that_is_down_or_refusing_is_named(tmp_path: Path) -> None:
    """GIVEN an index URL whose server is not listening, or a database it refuses WHEN
    commands run THEN each names PostgreSQL and its address in one line (exit 2)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    for url, where in (
        (f"postgresql+psycopg://postgres@127.0.0.1:{closed}/gallra", f"127.0.0.1:{closed}"),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/no_such_database_here", "127.0.0.1:5432"),
    ):
        for args in (("today",), ("init",), ("search", "möte")):
            done = subprocess.run(
                [sys.executable, "-m", "gallra", "--home", str(tmp_path / "home"), *args],
                env={**os.environ, "GALLRA_INDEX__URL": url},
                capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
            )  # fmt: skip
            assert done.returncode == 2, (args, done.stderr)
            assert f"PostgreSQL {where}: unreachable or refusing" in done.stderr, done.stderr
            assert "internal error" not in done.stderr
