"""Wall time of a nightly run with nothing new: in-process (Prefect's temporary API)
side by side with the same run against a running Prefect server. JSON in
bench/results/nightly.json.

    .venv/bin/python -m bench.nightly [--runs 3]
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
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import measure, write_results
from tests.servers import free_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gallra-bench-nightly-"))
    py = sys.executable
    env = {**os.environ, "GALLRA_HOME": str(work / "home")}
    server: subprocess.Popen[bytes] | None = None
    try:
        for step in (["init"], ["demo"]):
            subprocess.run(
                [py, "-m", "gallra", *step], env=env, check=True, stdout=subprocess.DEVNULL
            )
        cold = measure(
            "in-process, first run (fresh Prefect home)", [py, "-m", "gallra", "nightly"], env=env
        )
        inproc = [
            measure("in-process", [py, "-m", "gallra", "nightly"], env=env)
            for _ in range(args.runs)
        ]
        port = free_port()
        server_env = {
            **env,
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_HOME": str(work / "server-home"),
        }
        server = subprocess.Popen(
            [
                str(Path(py).parent / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(server_env["PREFECT_API_URL"] + "/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        served = [
            measure("against a running server", [py, "-m", "gallra", "nightly"], env=server_env)
            for _ in range(args.runs)
        ]
        rows: list[dict[str, Any]] = [
            {"setup": cold.peer, "median_seconds": round(cold.seconds, 2), "runs": 1},
            {
                "setup": "in-process (Prefect's temporary API)",
                "median_seconds": round(statistics.median(r.seconds for r in inproc), 2),
                "runs": len(inproc),
                "peak_rss_mb": round(max(r.peak_rss_mb for r in inproc)),
            },
            {
                "setup": "in-process flow, API of a running Prefect server",
                "median_seconds": round(statistics.median(r.seconds for r in served), 2),
                "runs": len(served),
                "peak_rss_mb": round(max(r.peak_rss_mb for r in served)),
            },
        ]
        assert all(r.exit_code == 0 for r in [cold, *inproc, *served])
        path = write_results(
            "nightly",
            {
                "benchmark": "nightly, nothing new",
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "cpus": os.cpu_count(),
                "results": rows,
            },
        )
        for row in rows:
            print(f"{row['setup']:<55} {row['median_seconds']:>7} s")
        print(f"written {path}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
