"""How fast the `gallra` command starts and answers, beside notmuch, as fresh processes.

Every command is started anew in each round (median of --rounds, default 11),
the peers interleaved round by round so a slower minute of the machine costs
every peer alike. The index and notmuch's database hold the same 2000-message
bench corpus (bench.mail_ingest's messages, as a Maildir).

Peers in one run:
- `python -c pass` and `python -S -c pass`: the interpreter's own start, the floor;
- `gallra --help`, `gallra search --help`, `gallra subject --help`: start-up only;
- `gallra search WORD` for a word in every message, in 1 of 8, and in one;
- `notmuch search WORD`, `notmuch search --limit=20 WORD` (gallra's page size) and
  `notmuch count WORD` for the same words.

    python -m bench.cli_startup [--rounds N] [--messages N]

Results: bench/results/cli_startup.json (seconds per peer: median, min, max).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import write_results
from bench.mail_ingest import write_maildir

WORDS = {"every message": "sessionen", "1 in 8": "cecilia", "one message": "1234"}


def _notmuch_config(root: Path, maildir: Path) -> Path:
    config = root / "notmuch-config"
    config.write_text(
        f"[database]\npath={maildir}\n[user]\nname=Coach\nprimary_email=coach@example.org\n"
        "[new]\ntags=inbox;\n[search]\nexclude_tags=\n[maildir]\nsynchronize_flags=false\n"
    )
    return config


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({done.returncode}): {done.stderr[-500:]!r}")
    return seconds


def _prepare(root: Path, messages: int) -> tuple[dict[str, str], Path]:
    maildir = root / "Maildir"
    megabytes = write_maildir(maildir, messages)
    env = {**os.environ, "GALLRA_HOME": str(root / "home"), "DO_NOT_TRACK": "1"}
    gallra = shutil.which("gallra", path=str(Path(sys.executable).parent)) or "gallra"
    for argv in ([gallra, "init"], [gallra, "ingest", "mail", "--maildir", str(maildir)]):
        subprocess.run(argv, env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    config = _notmuch_config(root, maildir)
    env["NOTMUCH_CONFIG"] = str(config)
    subprocess.run(["notmuch", "new"], env=env, check=True, capture_output=True)
    sys.stderr.write(f"corpus: {messages} messages, {megabytes:.1f} MB, indexed by both\n")
    return env, Path(gallra)


def _peers(gallra: Path) -> dict[str, list[str]]:
    python = sys.executable
    peers: dict[str, list[str]] = {
        "python -c pass": [python, "-c", "pass"],
        "python -S -c pass": [python, "-S", "-c", "pass"],
        "gallra --help": [str(gallra), "--help"],
        "gallra search --help": [str(gallra), "search", "--help"],
        "gallra subject --help": [str(gallra), "subject", "--help"],
    }
    for label, word in WORDS.items():
        peers[f"gallra search ({label})"] = [str(gallra), "search", word]
        peers[f"notmuch search ({label})"] = ["notmuch", "search", word]
        peers[f"notmuch search --limit=20 ({label})"] = ["notmuch", "search", "--limit=20", word]
        peers[f"notmuch count ({label})"] = ["notmuch", "count", word]
    return peers


def _summary(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        peer: {
            "median": round(statistics.median(times), 4),
            "min": round(min(times), 4),
            "max": round(max(times), 4),
        }
        for peer, times in samples.items()
    }


def _ratios(medians: dict[str, float]) -> dict[str, float]:
    ratios: dict[str, float] = {}
    for label in WORDS:
        ours = medians[f"gallra search ({label})"]
        for peer in ("notmuch search", "notmuch search --limit=20"):
            ratios[f"gallra search / {peer} ({label})"] = round(
                ours / medians[f"{peer} ({label})"], 2
            )
    return ratios


def main() -> None:
    """Build the corpus, time every peer round by round, write the JSON and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    if shutil.which("notmuch") is None:
        raise SystemExit("notmuch is not installed (apt-get install notmuch): scripts/bench does")
    with tempfile.TemporaryDirectory(prefix="gallra-cli-bench-") as tmp:
        env, gallra = _prepare(Path(tmp), args.messages)
        peers = _peers(gallra)
        samples: dict[str, list[float]] = {peer: [] for peer in peers}
        for round_ in range(args.rounds):
            order = list(peers)
            order = order[round_ % len(order) :] + order[: round_ % len(order)]
            for peer in order:
                samples[peer].append(_time(peers[peer], env))
    summary = _summary(samples)
    medians = {peer: s["median"] for peer, s in summary.items()}
    payload: dict[str, Any] = {
        "messages": args.messages,
        "rounds": args.rounds,
        "seconds": summary,
        "ratios": _ratios(medians),
        "targets": {
            "gallra --help <= 0.3 s": medians["gallra --help"] <= 0.3,
            "gallra search --help <= 0.3 s": medians["gallra search --help"] <= 0.3,
            "gallra search <= 0.5 s": all(
                medians[f"gallra search ({label})"] <= 0.5 for label in WORDS
            ),
        },
    }
    path = write_results("cli_startup", payload)
    width = max(len(peer) for peer in summary)
    for peer, s in summary.items():
        low, high = s["min"] * 1000, s["max"] * 1000
        print(f"{peer:<{width}}  {s['median'] * 1000:7.1f} ms  ({low:.1f}-{high:.1f})")
    for name, ratio in payload["ratios"].items():
        print(f"{name}: {ratio}x")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
