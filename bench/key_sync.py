"""What the sweep's key step costs as an archive grows: binding every blob's key to its
people, at 10k and 100k items (SQLite index and key store), first and steady state.

The first run wraps every key for its people (what ingests do bit by bit);
the steady state is what every nightly sweep pays when nothing changed.
Results: bench/results/key_sync.json.

    .venv/bin/python -m bench.key_sync [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, insert

from bench.common import write_results
from models.tables import Item, ItemSubject, Subject
from storage.engine import make_engine, migrate
from storage.keybinding import bind_keys
from storage.keystore import KeyStore, MasterKey

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
PEOPLE_PER_ITEMS = 10  # one person per ten items


def build(work: Path, items: int) -> tuple[Engine, KeyStore]:
    """An index of `items` e-mails tied to items/10 people, every blob with a data key."""
    index = make_engine(f"sqlite:///{work / 'index.db'}")
    migrate(index)
    people = max(1, items // PEOPLE_PER_ITEMS)
    with index.begin() as db:
        db.execute(
            insert(Subject),
            [
                {"display_name": f"P{n}", "roles": "client", "created_at": NOW, "updated_at": NOW}
                for n in range(people)
            ],
        )
        db.execute(
            insert(Item),
            [
                {
                    "kind": "email",
                    "source": "bench",
                    "source_ref": str(n),
                    "received_at": NOW,
                    "size": 1,
                    "sha256": f"{n:064x}",
                    "mime_type": "message/rfc822",
                    "blob_key": f"mail/{n:064x}",
                    "parse_status": "ok",
                    "title": "",
                    "purpose": "agreement",
                    "legal_basis": "contract",
                    "special_category": False,
                    "provided_by_subject": False,
                    "rule_id": "",
                    "policy_version": "",
                    "state": "live",
                    "media_info": "",
                    "created_at": NOW,
                }
                for n in range(items)
            ],
        )
        db.execute(
            insert(ItemSubject),
            [
                {"item_id": n + 1, "subject_id": n % people + 1, "role": "from", "reason": "b"}
                for n in range(items)
            ],
        )
    keys = KeyStore(make_engine(f"sqlite:///{work / 'keys.db'}"), MasterKey(os.urandom(32)))
    keys.create(NOW)
    blob_keys = [f"mail/{n:064x}" for n in range(items)]
    for start in range(0, items, 5000):
        keys.data_keys_for_write(blob_keys[start : start + 5000], NOW)
    return index, keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    results = []
    for size in args.sizes:
        work = Path(tempfile.mkdtemp(prefix="gallra-bench-keys-"))
        try:
            index, keys = build(work, size)
            start = time.perf_counter()
            changed = bind_keys(index, keys, NOW)
            first = time.perf_counter() - start
            start = time.perf_counter()
            again = bind_keys(index, keys, NOW)
            steady = time.perf_counter() - start
            results.append(
                {
                    "items": size,
                    "people": size // PEOPLE_PER_ITEMS,
                    "first_bind_seconds": round(first, 2),
                    "blobs_rebound": changed,
                    "steady_state_seconds": round(steady, 2),
                    "blobs_rebound_again": again,
                }
            )
            print(results[-1])
        finally:
            shutil.rmtree(work, ignore_errors=True)
    path = write_results(
        "key_sync",
        {
            "benchmark": "sweep key step: bind every blob's key to its people",
            "cpus": os.cpu_count(),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "results": results,
        },
    )
    print(f"written {path}")


if __name__ == "__main__":
    main()
