"""Shared by benchmarks: run a peer as a child process and measure it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


@dataclass
class Run:
    """One peer's measurement."""

    peer: str
    seconds: float
    peak_rss_mb: float
    exit_code: int
    items: int = 0
    megabytes: float = 0.0
    cpu_seconds: float = 0.0  # user + system, its children included

    @property
    def per_second(self) -> float:
        """Items per second."""
        return self.items / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with rates."""
        data = asdict(self)
        data["items_per_second"] = round(self.per_second, 1)
        data["mb_per_second"] = round(self.megabytes / self.seconds, 1) if self.seconds else 0.0
        return data


# Linux keeps a process's peak RSS across execve: a peer forked straight from
# this (large) process would report at least our RSS (mbsync showed 79 MB, the
# bench's own size, instead of ~20). A small launcher starts the peer instead
# and reports the peer's peak from wait4; the floor is the launcher's ~9 MB.
_LAUNCHER = """
import os, sys, time
null = os.open(os.devnull, os.O_WRONLY)
start = time.perf_counter()
to_null = [(os.POSIX_SPAWN_DUP2, null, 1)]
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ, file_actions=to_null)
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measure(
    peer: str, argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Run:
    """Run `argv`, timing it and reading its peak RSS and CPU from wait4 (children included).

    The file systems are synced first: a peer that fsyncs (mbsync does, each
    message) must not pay for the write-back of what the peer before it wrote.
    """
    os.sync()
    proc = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCHER, *argv],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(
            f"{peer} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}\n"
        )
    seconds, peak_kb, cpu = proc.stdout.split()
    return Run(peer, float(seconds), int(peak_kb) / 1024, proc.returncode, cpu_seconds=float(cpu))


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """bench/results/NAME.json."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return path
