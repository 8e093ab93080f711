"""The nightly Prefect flow, in-process, and what it leaves behind in Prefect: nothing personal."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.dovecot import Dovecot
from tests.mailgen import message, person

pytestmark = pytest.mark.integration
PW_ENV = "GALLRA_TEST_IMAP_PASSWORD"
PERSONNUMMER = ("811218-9876", "198112189876", "8112189876")


def _scan(root: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path.relative_to(root)}: {n.decode()}" for n in needles if n in data]
    return hits


def test_nightly_leaves_no_personal_data_in_prefect(
    cli: Cli, dovecot: Dovecot, tmp_path: Path
) -> None:
    """GIVEN mail with known names, addresses and a personnummer, one failing source and
    items due for deletion WHEN the nightly flow runs THEN Prefect's database, its files,
    the temp dir and the output hold none of them."""
    names = [person(n)[0] for n in range(6)]
    addresses = [person(n)[1] for n in range(6)]
    body = f"Mitt personnummer är {PERSONNUMMER[0]}. Hälsningar, {names[0]}"
    dovecot.append("INBOX", [message(n, body=body if n == 0 else None) for n in range(6)])
    registered = cli(
        "subject",
        "add",
        "--name",
        names[0],
        "--email",
        addresses[0],
        "--personnummer",
        PERSONNUMMER[0],
    )
    assert registered.code == 0, registered.err
    (cli.home / "gallra.toml").write_text(
        "[[mail.sources]]\n"
        f'name = "practice"\nhost = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "none"\n'
        f'user = "{dovecot.user}"\npassword_env = "{PW_ENV}"\nfolders = ["INBOX"]\n'
        "[[mail.sources]]\n"
        f'name = "old-account"\nhost = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "none"\n'
        f'user = "{dovecot.user}"\npassword_env = "GALLRA_TEST_WRONG_PASSWORD"\n'
    )
    tmpdir = tmp_path / "run-tmp"
    tmpdir.mkdir()
    env = {
        **os.environ,
        "GALLRA_HOME": str(cli.home),
        PW_ENV: dovecot.password,
        "GALLRA_TEST_WRONG_PASSWORD": "wrong",
        "TMPDIR": str(tmpdir),
    }

    def nightly(now: str | None = None, *more: str) -> subprocess.CompletedProcess[bytes]:
        extra = ["--now", now] if now else []
        return subprocess.run(
            [sys.executable, "-m", "gallra", *extra, "nightly", "--json", *more],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=600,
            check=False,
        )

    first = nightly()
    assert first.returncode == 1  # one source failed: the run fails visibly...
    assert b"nightly run failed: nightly steps failed: mail:old-account" in first.stderr
    failed_report = json.loads(first.stdout)  # ...and still reports every step, as JSON
    assert failed_report["failed"] == ["mail:old-account"]
    assert "practice" in failed_report["mail"] and "sweep" in failed_report
    with_ok_source = (cli.home / "gallra.toml").read_text().split("[[mail.sources]]\n")[1]
    (cli.home / "gallra.toml").write_text("[[mail.sources]]\n" + with_ok_source)
    # Months later: the prospects' mail and entries are swept, and Prefect's own record of
    # the first run is pruned (history kept 0 days here, 30 by default).
    done = nightly("2027-06-02", "--history-days", "0")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["history_pruned"] >= 1
    assert report["sweep"]["subject_keys_destroyed"] >= 1, report  # crypto-shredded with the sweep
    assert report["backup"]["size"] > 0  # the index backed up after the sweep...
    assert list((cli.home / "tmp").glob("snapshot-*")) == []  # ...leaving no plaintext copy
    assert b"SQLite format" not in b"".join(
        p.read_bytes() for p in (cli.home / "blobs" / "backups").iterdir()
    )

    swept = cli("ledger", "verify", "--json").json()
    assert swept["entries"] >= 5  # messages and people were deleted during these runs
    needles = [s.encode() for s in [*names, *addresses, *PERSONNUMMER]]
    needles += [n.encode("utf-8").lower() for n in names]
    prefect_home = cli.home / "prefect"
    assert (prefect_home / "prefect.db").exists()
    stored = [p for p in (prefect_home / "storage").rglob("*") if p.is_file()]
    assert stored == []  # no result, and no pickled exception of the failed step
    assert _scan(prefect_home, needles) == []
    assert _scan(tmpdir, needles) == []
    assert _scan(dovecot.root / "mail", needles)  # the scan does find them where they are
    for run in (first, done):
        assert not [n for n in needles if n in run.stdout or n in run.stderr]


def test_export_and_erase_run_as_flows_taking_only_an_id(cli: Cli) -> None:
    import json

    from gallra.prefect_env import prefect_environment

    added = cli("subject", "add", "--name", "Folke Holm", "--email", "folke@example.se", "--json")
    subject_id = added.json()["id"]
    bundle = cli.home.parent / "bundle.zip"
    code = (
        "import json, subprocess, sys\n"
        "from flows.nightly import erase_subject, export_subject\n"
        f"exported = export_subject({subject_id})\n"
        "subprocess.run([sys.executable, '-m', 'gallra', 'item', 'get',"
        f" str(exported['export_item_id']), '--out', {str(bundle)!r}], check=True)\n"
        f"print(json.dumps([exported, erase_subject({subject_id})]))\n"
    )
    env = {**os.environ, **prefect_environment(cli.home)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    exported, certificate = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert exported["items"] == 0
    assert not (cli.home / "exports").exists()  # no plaintext bundle left on disk
    assert list((cli.home / "tmp").iterdir()) == []
    # fetched (decrypted, checked) by `gallra item get` before the erasure deleted it
    assert hashlib.sha256(bundle.read_bytes()).hexdigest() == exported["sha256"]
    assert certificate["subject_id"] == subject_id and certificate["request_id"]
    assert certificate["subject_entry"] == "deleted"
    assert b"Folke" not in (cli.home / "prefect" / "prefect.db").read_bytes()
