"""Peak memory and time of ingesting one large recording (default 2 GB WAV), with a
plain `cp` and `sha256sum` of the same file as peers. JSON in
bench/results/recording_memory.json.

    .venv/bin/python -m bench.recording_memory [--gigabytes 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import measure, write_results


def write_wav(path: Path, data_bytes: int, rate: int = 16000) -> None:
    """A valid 16-bit mono PCM WAV of `data_bytes` of audio, written in 8 MB chunks."""
    header = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    header += b"data" + struct.pack("<I", data_bytes)
    chunk = os.urandom(1 << 20) * 8
    with path.open("wb") as out:
        out.write(header)
        left = data_bytes
        while left > 0:
            out.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
    old = time.time() - 3600
    os.utime(path, (old, old))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gigabytes", type=float, default=2.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gallra-bench-rec-", dir=os.environ.get("BENCH_DIR")))
    py = sys.executable
    try:
        size = int(args.gigabytes * 1e9) // 2 * 2
        drop = work / "drop"
        drop.mkdir()
        source = drop / "2026-03-06_14-30-00-session.wav"
        write_wav(source, size)
        mb = source.stat().st_size / 1e6
        runs = [
            measure("sha256sum (read once)", ["sha256sum", str(source)]),
            measure("cp (read once, write once)", ["cp", str(source), str(work / "copy.wav")]),
        ]
        (work / "copy.wav").unlink()
        env = {**os.environ, "GALLRA_HOME": str(work / "home")}
        subprocess.run([py, "-m", "gallra", "init"], env=env, check=True, stdout=subprocess.DEVNULL)
        runs.append(
            measure(
                "gallra ingest recordings (sniff, probe, hash, store, read back, "
                "index; source removed)",
                [py, "-m", "gallra", "ingest", "recordings", "--dir", str(drop)],
                env=env,
            )
        )
        assert runs[-1].exit_code == 0 and not source.exists()
        for run in runs:
            run.items, run.megabytes = 1, mb
        rows = [{**r.as_dict(), "mb_per_second": round(mb / r.seconds, 1)} for r in runs]
        path = write_results(
            "recording_memory",
            {
                "benchmark": "one large recording",
                "megabytes": round(mb),
                "cpus": os.cpu_count(),
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "runs": rows,
            },
        )
        for row in rows:
            print(
                f"{row['peer'][:60]:<60} {row['seconds']:>7.1f} s {row['mb_per_second']:>7} MB/s "
                f"peak rss {row['peak_rss_mb']:>6.0f} MB"
            )
        print(f"written {path}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
