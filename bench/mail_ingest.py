"""Mail ingest throughput: gallra (blobs encrypted and not) vs a raw imapclient fetch,
mbsync and offlineimap3.

One Dovecot mailbox (default 2000 messages, mixed sizes, a few multi-MB
attachments), each peer run as its own process against it, side by side in
one run. Results: bench/results/mail_ingest.json (messages/s, MB/s, peak RSS).

    .venv/bin/python -m bench.mail_ingest [--messages N] [--large-every N]

`--large-every 80` makes the mailbox the size the issue measured (2000
messages, ~200 MB: 25 messages with a 2-6 MB attachment); its results go to
bench/results/mail_ingest-large-every-80.json.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import Run, measure, write_results
from tests.dovecot import Dovecot
from tests.mailgen import message

RAW_FETCH = """
import sys, time
from imapclient import IMAPClient
c = IMAPClient("127.0.0.1", port=int(sys.argv[1]), ssl=False)
c._imap.debug = 0  # as gallra does: no repr() of every response for a DEBUG log
c.login(sys.argv[2], sys.argv[3]); c.select_folder("INBOX", readonly=True)
uids = c.search(["ALL"]); total = 0
for i in range(0, len(uids), 200):
    for data in c.fetch(uids[i:i + 200], ["BODY.PEEK[]"]).values():
        total += len(data[b"BODY[]"])
c.logout()
"""

# What mbsync does, in Python with imapclient: the floor of this stack. Each
# message written to its own Maildir file and fsynced; no parse, no index.
FETCH_TO_MAILDIR = """
import hashlib, os, sys
from imapclient import IMAPClient
target = sys.argv[4]
os.makedirs(target + "/tmp"); os.makedirs(target + "/cur")
c = IMAPClient("127.0.0.1", port=int(sys.argv[1]), ssl=False)
c._imap.debug = 0
c.login(sys.argv[2], sys.argv[3]); c.select_folder("INBOX", readonly=True)
uids = c.search(["ALL"])
for i in range(0, len(uids), 200):
    for uid, data in c.fetch(uids[i:i + 200], ["BODY.PEEK[]"]).items():
        raw = data[b"BODY[]"]
        name = f"{uid}.{hashlib.sha256(raw).hexdigest()[:16]}"
        with open(f"{target}/tmp/{name}", "xb") as f:
            f.write(raw); f.flush(); os.fsync(f.fileno())
        os.rename(f"{target}/tmp/{name}", f"{target}/cur/{name}:2,")
c.logout()
"""


def bench_messages(count: int, seed: int = 7, large_every: int = 250) -> Iterator[bytes]:
    """The bench mailbox: mixed sizes, every `large_every`th message with a 2-6 MB attachment."""
    rng = random.Random(seed)
    blob = os.urandom(6 * 1024 * 1024)
    for n in range(count):
        body = "Hej! " + "Vi pratade om mål och vanor. " * rng.randint(20, 1500)
        attachment = blob[: rng.randint(2, 6) * 1024 * 1024] if n % large_every == 7 else None
        yield message(n, body=body, attachment=attachment)


def write_maildir(folder: Path, count: int, large_every: int = 250) -> float:
    """The bench mailbox as a Maildir; returns MB."""
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    total = 0
    for n, data in enumerate(bench_messages(count, large_every=large_every)):
        (folder / "cur" / f"{1700000000 + n}.M{n}P1.bench,S={len(data)}:2,").write_bytes(data)
        total += len(data)
    return total / 1e6


def build_mailbox(server: Dovecot, count: int, large_every: int = 250) -> tuple[int, float]:
    """Write `count` messages straight into the user's Maildir; returns (count, MB)."""
    megabytes = write_maildir(server.root / "mail" / server.user, count, large_every)
    for path in [server.root / "mail", *(server.root / "mail").rglob("*")]:
        os.chown(path, 5000, 5000)
    return count, megabytes


Peer = tuple[str, Callable[[Path], list[str]]]


def _env(server: Dovecot, target: Path) -> dict[str, str]:
    """Every run's environment: gallra's home in `target`, the password for --password-env."""
    return {**os.environ, "GALLRA_HOME": str(target), "GALLRA_TEST_PW": server.password}


def _peers(server: Dovecot) -> list[Peer]:
    """Each peer: its name and its command for a fresh target dir."""
    py = sys.executable
    peers: list[Peer] = [
        (
            "raw imapclient FETCH (in memory, batch 200)",
            lambda _: [py, "-c", RAW_FETCH, str(server.port), server.user, server.password],
        ),
        (
            "imapclient FETCH to Maildir (sha256, fsync each; no parse, no index)",
            lambda target: [
                py,
                "-c",
                FETCH_TO_MAILDIR,
                str(server.port),
                server.user,
                server.password,
                str(target / "maildir"),
            ],
        ),
    ]

    def gallra(*settings: str) -> Callable[[Path], list[str]]:
        """gallra's ingest with these settings (NAME=VALUE environment overrides)."""

        def command(target: Path) -> list[str]:
            program = ["env", *settings, py, "-m", "gallra"]
            init = measure("init", [*program, "init"], env=_env(server, target))
            assert init.exit_code == 0
            url = f"imap://{server.user}@127.0.0.1:{server.port}"
            source = ["--imap", url, "--password-env", "GALLRA_TEST_PW", "--folder", "INBOX"]
            return [*program, "ingest", "mail", *source]

        return command

    peers.append(
        ("gallra ingest (fetch, store, parse, index, tag; SQLite + local folder)", gallra())
    )
    # The same with blobs stored unencrypted (a supported setting): what the per-blob
    # keys, AES-GCM and the key binding after the last batch cost, in every run.
    peers.append(
        (
            "gallra ingest, blobs unencrypted (keys.encrypt = false)",
            gallra("GALLRA_KEYS__ENCRYPT=false"),
        )
    )
    if shutil.which("mbsync"):

        def mbsync(target: Path) -> list[str]:
            (target / "maildir").mkdir(parents=True)
            rc = target / "mbsyncrc"
            rc.write_text(
                f"IMAPAccount bench\nHost 127.0.0.1\nPort {server.port}\nUser {server.user}\n"
                f"Pass {server.password}\nSSLType None\nAuthMechs LOGIN\n\n"
                "IMAPStore remote\nAccount bench\n\n"
                f"MaildirStore local\nPath {target}/maildir/\n"
                f"Inbox {target}/maildir/INBOX\n\n"
                "Channel bench\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\n"
                "Sync Pull\nSyncState *\n"
            )
            return ["mbsync", "-c", str(rc), "-a"]

        peers.append(("mbsync (isync) to Maildir", mbsync))
    exe = shutil.which("offlineimap3") or shutil.which("offlineimap")
    if exe:

        def offlineimap(target: Path) -> list[str]:
            target.mkdir(parents=True)
            rc = target / "offlineimaprc"
            rc.write_text(
                "[general]\naccounts = bench\nmetadata = " + str(target / "meta") + "\n\n"
                "[Account bench]\nlocalrepository = local\nremoterepository = remote\n\n"
                f"[Repository local]\ntype = Maildir\nlocalfolders = {target}/maildir\n\n"
                "[Repository remote]\ntype = IMAP\nremotehost = 127.0.0.1\n"
                f"remoteport = {server.port}\nremoteuser = {server.user}\n"
                f"remotepass = {server.password}\nssl = no\nstarttls = no\n"
                "folderfilter = lambda f: f == 'INBOX'\nreadonly = True\n"
            )
            return [exe, "-c", str(rc), "-o", "-u", "quiet"]

        peers.append(("offlineimap3 to Maildir", offlineimap))
    return peers


def _median_run(runs: list[Run]) -> Run:
    """The run of median time, with the highest peak RSS and the first failure, if any."""
    ordered = sorted(runs, key=lambda r: r.seconds)
    middle = ordered[len(ordered) // 2]
    failed = next((r.exit_code for r in runs if r.exit_code != 0), 0)
    peak = max(r.peak_rss_mb for r in runs)
    return Run(middle.peer, middle.seconds, peak, failed, cpu_seconds=middle.cpu_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument(
        "--large-every", type=int, default=250, help="every Nth message has a 2-6 MB attachment"
    )
    parser.add_argument("--rounds", type=int, default=3, help="every peer runs once a round")
    args = parser.parse_args()
    server = Dovecot()
    work = Path(tempfile.mkdtemp(prefix="gallra-bench-"))
    try:
        count, megabytes = build_mailbox(server, args.messages, args.large_every)
        server.start()
        assert server.count("INBOX") == count  # Dovecot has indexed the Maildir
        peers = _peers(server)
        seconds: dict[str, list[Run]] = {name: [] for name, _ in peers}
        # Each round starts with the next peer, so no peer always runs after the same one;
        # every run writes to a fresh dir, and nothing is deleted until the end.
        for round_ in range(args.rounds):
            for offset in range(len(peers)):
                index = (round_ + offset) % len(peers)
                name, command = peers[index]
                target = work / f"round{round_}-peer{index}"
                argv = command(target)
                seconds[name].append(measure(name, argv, env=_env(server, target)))
        runs = [_median_run(seconds[name]) for name, _ in peers]
        for run in runs:
            run.items, run.megabytes = count, megabytes
        reference = next((r for r in runs if r.peer.startswith("mbsync")), None)
        results: dict[str, Any] = {
            "benchmark": "mail_ingest",
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "messages": count,
            "large_every": args.large_every,
            "megabytes": round(megabytes, 1),
            "cpus": os.cpu_count(),
            "rounds": args.rounds,
            "method": (
                "every peer once a round, in a rotated order, file systems synced before each "
                "run; a peer's figure is its median run (peak RSS: its highest; CPU: user + system "
                "of the median run, its child processes included)"
            ),
            "runs": [
                {
                    **r.as_dict(),
                    "seconds_each_round": [round(x.seconds, 3) for x in seconds[r.peer]],
                    "cpu_seconds_each_round": [round(x.cpu_seconds, 2) for x in seconds[r.peer]],
                    "ratio_to_mbsync": round(reference.seconds / r.seconds, 2)
                    if reference and r.seconds
                    else None,
                }
                for r in runs
            ],
        }
        name = "mail_ingest"
        path = write_results(
            name if args.large_every == 250 else f"{name}-large-every-{args.large_every}", results
        )
        for r in results["runs"]:
            print(
                f"{r['peer'][:60]:<60} {r['items_per_second']:>8} msg/s "
                f"{r['mb_per_second']:>6} MB/s rss {r['peak_rss_mb']:>6.0f} MB  "
                f"x{r['ratio_to_mbsync']}  cpu {r['cpu_seconds']:.2f} s  exit {r['exit_code']}  "
                f"s/round {r['seconds_each_round']}"
            )
        print(f"written {path}")
    finally:
        server.remove()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
