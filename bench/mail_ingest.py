"""Mail ingest throughput: gallra vs a raw imapclient fetch, mbsync and offlineimap3.

One Dovecot mailbox (default 2000 messages, mixed sizes, a few multi-MB
attachments), each peer run as its own process against it, side by side in
one run. Results: bench/results/mail_ingest.json (messages/s, MB/s, peak RSS).

    .venv/bin/python -m bench.mail_ingest [--messages N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import Run, measure, write_results
from tests.dovecot import Dovecot
from tests.mailgen import message

RAW_FETCH = """
import sys, time
from imapclient import IMAPClient
c = IMAPClient("127.0.0.1", port=int(sys.argv[1]), ssl=False)
c.login(sys.argv[2], sys.argv[3]); c.select_folder("INBOX", readonly=True)
uids = c.search(["ALL"]); total = 0
for i in range(0, len(uids), 200):
    for data in c.fetch(uids[i:i + 200], ["BODY.PEEK[]"]).values():
        total += len(data[b"BODY[]"])
c.logout()
"""


def bench_messages(count: int, seed: int = 7) -> Iterator[bytes]:
    """The bench mailbox: mixed sizes, every 250th message with a 2-6 MB attachment."""
    rng = random.Random(seed)
    blob = os.urandom(6 * 1024 * 1024)
    for n in range(count):
        body = "Hej! " + "Vi pratade om mål och vanor. " * rng.randint(20, 1500)
        attachment = blob[: rng.randint(2, 6) * 1024 * 1024] if n % 250 == 7 else None
        yield message(n, body=body, attachment=attachment)


def write_maildir(folder: Path, count: int) -> float:
    """The bench mailbox as a Maildir; returns MB."""
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    total = 0
    for n, data in enumerate(bench_messages(count)):
        (folder / "cur" / f"{1700000000 + n}.M{n}P1.bench,S={len(data)}:2,").write_bytes(data)
        total += len(data)
    return total / 1e6


def build_mailbox(server: Dovecot, count: int) -> tuple[int, float]:
    """Write `count` messages straight into the user's Maildir; returns (count, MB)."""
    megabytes = write_maildir(server.root / "mail" / server.user, count)
    for path in [server.root / "mail", *(server.root / "mail").rglob("*")]:
        os.chown(path, 5000, 5000)
    return count, megabytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    server = Dovecot()
    work = Path(tempfile.mkdtemp(prefix="gallra-bench-"))
    try:
        count, megabytes = build_mailbox(server, args.messages)
        server.start()
        assert server.count("INBOX") == count  # Dovecot has indexed the Maildir
        py = sys.executable
        runs: list[Run] = []
        runs.append(
            measure(
                "raw imapclient FETCH (in memory, batch 200)",
                [py, "-c", RAW_FETCH, str(server.port), server.user, server.password],
            )
        )
        home = work / "gallra-home"
        env = {**os.environ, "GALLRA_HOME": str(home), "GALLRA_TEST_PW": server.password}
        assert measure("init", [py, "-m", "gallra", "init"], env=env).exit_code == 0
        runs.append(
            measure(
                "gallra ingest (fetch, store, parse, index, tag; SQLite + local folder)",
                [
                    py,
                    "-m",
                    "gallra",
                    "ingest",
                    "mail",
                    "--imap",
                    f"imap://{server.user}@127.0.0.1:{server.port}",
                    "--password-env",
                    "GALLRA_TEST_PW",
                    "--folder",
                    "INBOX",
                ],
                env=env,
            )
        )
        mbsync_rc = work / "mbsyncrc"
        (work / "mbsync-maildir").mkdir()
        mbsync_rc.write_text(
            f"IMAPAccount bench\nHost 127.0.0.1\nPort {server.port}\nUser {server.user}\n"
            f"Pass {server.password}\nSSLType None\nAuthMechs LOGIN\n\n"
            "IMAPStore remote\nAccount bench\n\n"
            f"MaildirStore local\nPath {work}/mbsync-maildir/\n"
            f"Inbox {work}/mbsync-maildir/INBOX\n\n"
            "Channel bench\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\n"
            "Sync Pull\nSyncState *\n"
        )
        if shutil.which("mbsync"):
            runs.append(
                measure("mbsync (isync) to Maildir", ["mbsync", "-c", str(mbsync_rc), "-a"])
            )
        oimap_rc = work / "offlineimaprc"
        oimap_rc.write_text(
            "[general]\naccounts = bench\nmetadata = " + str(work / "oimap-meta") + "\n\n"
            "[Account bench]\nlocalrepository = local\nremoterepository = remote\n\n"
            f"[Repository local]\ntype = Maildir\nlocalfolders = {work}/oimap-maildir\n\n"
            "[Repository remote]\ntype = IMAP\nremotehost = 127.0.0.1\n"
            f"remoteport = {server.port}\nremoteuser = {server.user}\n"
            f"remotepass = {server.password}\nssl = no\nstarttls = no\n"
            "folderfilter = lambda f: f == 'INBOX'\nreadonly = True\n"
        )
        if shutil.which("offlineimap3") or shutil.which("offlineimap"):
            exe = shutil.which("offlineimap3") or shutil.which("offlineimap") or "offlineimap"
            runs.append(
                measure("offlineimap3 to Maildir", [exe, "-c", str(oimap_rc), "-o", "-u", "quiet"])
            )
        for run in runs:
            run.items, run.megabytes = count, megabytes
        reference = next((r for r in runs if r.peer.startswith("mbsync")), None)
        results: dict[str, Any] = {
            "benchmark": "mail_ingest",
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "messages": count,
            "megabytes": round(megabytes, 1),
            "cpus": os.cpu_count(),
            "runs": [
                {
                    **r.as_dict(),
                    "ratio_to_mbsync": round(r.per_second / reference.per_second, 2)
                    if reference and reference.per_second
                    else None,
                }
                for r in runs
            ],
        }
        path = write_results("mail_ingest", results)
        for r in results["runs"]:
            print(
                f"{r['peer'][:60]:<60} {r['items_per_second']:>8} msg/s "
                f"{r['mb_per_second']:>6} MB/s rss {r['peak_rss_mb']:>6.0f} MB  "
                f"x{r['ratio_to_mbsync']}  exit {r['exit_code']}"
            )
        print(f"written {path}")
    finally:
        server.remove()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
