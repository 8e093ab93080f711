"""Shared by benchmarks: run a peer as a child process and measure it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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


def measure(
    peer: str, argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Run:
    """Run `argv`, timing it and reading its peak RSS from wait4 (children included)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(
            f"{peer} failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}\n"
        )
    return Run(peer, elapsed, usage.ru_maxrss / 1024, proc.returncode)


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """bench/results/NAME.json."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return path
