"""Peak memory and time of an access export of a person with 1,000 items and 1 GB of
recordings, side by side with `zip` of the same bytes. JSON in
bench/results/export_memory.json.

    .venv/bin/python -m bench.export_memory [--items 1000] [--recording-mb 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import measure, write_results


def populate(home: Path, items: int, recording_mb: int, staging: Path) -> None:
    """One client with `items` small items and four recordings totalling `recording_mb`."""
    from gallra.settings import get_settings
    from gallra.wiring import App
    from models.enums import ItemKind
    from storage.registry import NewIdentifier, add_subject, start_engagement
    from tests.factory import make_item

    gallra = App(settings=get_settings(home))
    with gallra.session() as s:
        person = add_subject(
            s, display_name="Bench Person", identifiers=[NewIdentifier.email("bench@example.se")]
        )
        assert person.id
        start_engagement(s, client_id=person.id, starts_on=__import__("datetime").date(2026, 1, 1))
        for n in range(items - 4):
            make_item(
                s, gallra.blobs, gallra.policy, text=f"meddelande {n} " * 200, subjects=[person.id]
            )
            (staging / f"m{n}.txt").write_text(f"meddelande {n} " * 200)
    part = os.urandom(1 << 20)
    for r in range(4):
        path = staging / f"rec{r}.wav"
        with path.open("wb") as out:
            for _ in range(recording_mb // 4):
                out.write(part)
        with path.open("rb") as handle:
            stored = gallra.blobs.put(f"bench/rec{r}", handle)
        from models.enums import LegalBasis, ParseStatus
        from storage.items import add_item, link_subjects, stamp_expiry

        with gallra.session() as s:
            item = add_item(
                s,
                stored=stored,
                kind=ItemKind.RECORDING,
                source="bench",
                received_at=gallra.clock.now(),
                purpose="agreement",
                legal_basis=LegalBasis.CONTRACT,
                title=f"rec{r}.wav",
                parse_status=ParseStatus.OK,
            )
            assert item.id
            link_subjects(s, item_id=item.id, links=[(person.id, "bench", "bench")])
            stamp_expiry(s, gallra.policy, item=item, subject_ids=[person.id])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--recording-mb", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gallra-bench-export-", dir=os.environ.get("BENCH_DIR")))
    py = sys.executable
    try:
        home, staging = work / "home", work / "staging"
        staging.mkdir()
        env = {**os.environ, "GALLRA_HOME": str(home)}
        subprocess.run([py, "-m", "gallra", "init"], env=env, check=True, stdout=subprocess.DEVNULL)
        os.environ["GALLRA_HOME"] = str(home)
        populate(home, args.items, args.recording_mb, staging)
        megabytes = sum(p.stat().st_size for p in staging.iterdir()) / 1e6
        runs = [
            measure(
                "zip -r (same bytes, deflate)",
                ["zip", "-qr", str(work / "peer.zip"), "."],
                cwd=staging,
            )
            if shutil.which("zip")
            else None,
            measure(
                "gallra export (streamed zip, sha256 checked, README/data.json, kept as item)",
                [py, "-m", "gallra", "export", "1", "--out", str(work / "export.zip")],
                env=env,
            ),
        ]
        done = [r for r in runs if r is not None]
        assert done[-1].exit_code == 0
        for run in done:
            run.items, run.megabytes = args.items, megabytes
        path = write_results(
            "export_memory",
            {
                "benchmark": "access export",
                "items": args.items,
                "megabytes": round(megabytes),
                "cpus": os.cpu_count(),
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "runs": [r.as_dict() for r in done],
            },
        )
        for run in done:
            print(f"{run.peer[:60]:<60} {run.seconds:>7.1f} s  peak rss {run.peak_rss_mb:>6.0f} MB")
        print(f"written {path}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
