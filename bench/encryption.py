"""What encryption at rest costs: ingest and export with encryption on and off, one run.

Ingest: the same Maildir archive (default 2000 messages of mixed size, a
few with multi-MB attachments) taken in by `gallra ingest mail --maildir`
into a fresh home each time (SQLite + local folder). Export: one client's
access bundle (default 500 items and 400 MB of recordings). Each peer runs
as its own process, on/off alternating, `--rounds` times; the medians are
compared. Also the raw AES-256-GCM rate of the chunked format in-process.
Results: bench/results/encryption.json.

    .venv/bin/python -m bench.encryption [--messages N] [--rounds R]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Run, measure, write_results
from bench.mail_ingest import write_maildir


def _env(home: Path, encrypt: bool) -> dict[str, str]:
    return {
        **os.environ,
        "GALLRA_HOME": str(home),
        "GALLRA_KEYS__ENCRYPT": "true" if encrypt else "false",
    }


def _init(home: Path, encrypt: bool) -> None:
    subprocess.run(
        [sys.executable, "-m", "gallra", "init"],
        env=_env(home, encrypt),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def raw_cipher_rate(megabytes: int = 256) -> dict[str, float]:
    """MB/s of the chunked AES-256-GCM stream alone, read 1 MiB at a time, in memory."""
    from storage.crypto import DecryptingReader, EncryptingReader

    data = os.urandom(megabytes * 1024 * 1024)
    key = os.urandom(32)
    sealed = io.BytesIO()
    start = time.perf_counter()
    encrypting = EncryptingReader(io.BytesIO(data), key, "bench")
    while chunk := encrypting.read(1 << 20):
        sealed.write(chunk)
    encrypted = time.perf_counter() - start
    sealed.seek(0)
    start = time.perf_counter()
    decrypting = DecryptingReader(sealed, key, "bench")
    while decrypting.read(1 << 20):
        pass
    decrypted = time.perf_counter() - start
    mb = megabytes * 1.048576
    return {"encrypt_mb_per_s": round(mb / encrypted), "decrypt_mb_per_s": round(mb / decrypted)}


def _median(runs: list[Run]) -> dict[str, Any]:
    middle = sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]
    data = middle.as_dict()
    data["seconds_all"] = [round(r.seconds, 2) for r in runs]
    data["seconds_median"] = round(statistics.median(r.seconds for r in runs), 2)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--recording-mb", type=int, default=400)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gallra-bench-enc-", dir=os.environ.get("BENCH_DIR")))
    py = sys.executable
    try:
        maildir = work / "maildir"
        mail_mb = write_maildir(maildir, args.messages)
        ingest: dict[bool, list[Run]] = {True: [], False: []}
        for round_ in range(args.rounds):
            for encrypt in (True, False) if round_ % 2 == 0 else (False, True):
                home = work / f"ingest-{encrypt}-{round_}"
                _init(home, encrypt)
                run = measure(
                    f"gallra ingest mail --maildir (encryption {'on' if encrypt else 'off'})",
                    [py, "-m", "gallra", "ingest", "mail", "--maildir", str(maildir)],
                    env=_env(home, encrypt),
                )
                assert run.exit_code == 0
                run.items, run.megabytes = args.messages, mail_mb
                ingest[encrypt].append(run)
                shutil.rmtree(home)

        from bench.export_memory import populate

        export: dict[bool, list[Run]] = {True: [], False: []}
        for encrypt in (True, False):
            home, staging = work / f"export-{encrypt}", work / f"staging-{encrypt}"
            staging.mkdir()
            _init(home, encrypt)
            os.environ.update(_env(home, encrypt))
            populate(home, args.items, args.recording_mb, staging)
            megabytes = sum(p.stat().st_size for p in staging.iterdir()) / 1e6
            shutil.rmtree(staging)
            for _ in range(args.rounds):
                # An export is kept as an item: each round starts from the same copy.
                fresh = work / "round"
                shutil.copytree(home, fresh)
                run = measure(
                    f"gallra export (encryption {'on' if encrypt else 'off'})",
                    [py, "-m", "gallra", "export", "1", "--out", str(work / "x.zip")],
                    env=_env(fresh, encrypt),
                )
                assert run.exit_code == 0
                run.items, run.megabytes = args.items, megabytes
                export[encrypt].append(run)
                shutil.rmtree(fresh)
                (work / "x.zip").unlink()
        on_in, off_in = _median(ingest[True]), _median(ingest[False])
        on_ex, off_ex = _median(export[True]), _median(export[False])
        ratios = {
            "ingest_throughput_on_vs_off": round(
                off_in["seconds_median"] / on_in["seconds_median"], 3
            ),
            "export_throughput_on_vs_off": round(
                off_ex["seconds_median"] / on_ex["seconds_median"], 3
            ),
        }
        path = write_results(
            "encryption",
            {
                "benchmark": "encryption at rest: throughput with it on and off",
                "messages": args.messages,
                "mailbox_mb": round(mail_mb),
                "export_items": args.items,
                "export_recording_mb": args.recording_mb,
                "rounds": args.rounds,
                "cpus": os.cpu_count(),
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "aes_gcm_stream": raw_cipher_rate(),
                "runs": [on_in, off_in, on_ex, off_ex],
                "ratios": ratios,
                "target": "encryption costs under 10% of throughput (ratio >= 0.90)",
            },
        )
        for row in (on_in, off_in, on_ex, off_ex):
            print(
                f"{row['peer'][:55]:<55} {row['seconds_median']:>7.2f} s "
                f"{row['items_per_second']:>8.1f}/s {row['mb_per_second']:>7.1f} MB/s "
                f"rss {row['peak_rss_mb']:>5.0f} MB"
            )
        print(f"ratios (on/off throughput): {ratios}")
        print(f"written {path}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
