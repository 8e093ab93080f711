"""`gallra sweep`, `hold` and `ledger verify` from the command line."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from sqlmodel import Session

from gallra.settings import get_settings
from gallra.wiring import App
from models.policy import load_policy
from storage.engine import make_engine
from storage.registry import add_subject
from tests.conftest import Cli
from tests.factory import make_item


def _prospect_with_mail(cli: Cli, n: int) -> int:
    settings = get_settings(cli.home)
    engine = make_engine(settings.index_url)
    with Session(engine, expire_on_commit=False) as s:
        person = add_subject(s, display_name="Fråga Fredriksson")
        assert person.id
        for i in range(n):
            make_item(
                s,
                App(settings=settings).blobs,
                load_policy(),
                text=f"fråga {i}",
                subjects=[person.id],
                received=datetime(2026, 3, 6, 9, tzinfo=UTC),
            )
        s.commit()
    engine.dispose()
    return person.id


def test_hold_then_sweep_then_tampered_ledger(cli: Cli) -> None:
    person = _prospect_with_mail(cli, 3)
    preview = cli("sweep", "--preview", "92", "--json", now="2026-03-07").json()
    assert len(preview["would_delete_item_ids"]) == 3 and preview["deleted_by_rule"] == {
        "prospect": 3
    }
    hold = cli(
        "hold",
        "add",
        "--subject",
        str(person),
        "--reason",
        "tvist",
        "--review-on",
        "2026-05-01",
        "--json",
    ).json()
    listed = cli("hold", "list", "--json", now="2026-06-10").json()
    assert listed[0]["review_overdue"] is True
    held = cli("sweep", "--json", now="2026-06-10").json()
    assert (held["deleted"], held["held_past_expiry"]) == (0, 3)
    assert cli("hold", "lift", str(hold["id"])).code == 0
    swept = cli("sweep", "--json", now="2026-06-10")
    assert (
        swept.code == 0 and swept.json()["deleted"] == 3 and swept.json()["subjects_deleted"] == 1
    )
    assert "Fredriksson" not in swept.out
    ok = cli("ledger", "verify", "--json")
    # 3 items, the person, and the person's key (destroyed once nothing of theirs remained)
    assert ok.code == 0 and ok.json()["entries"] == 5

    with sqlite3.connect(cli.home / "index.db") as conn:
        conn.execute("UPDATE ledgerentry SET rule_id = 'contract' WHERE seq = 2")
    broken = cli("ledger", "verify")
    assert broken.code == 1
    assert broken.out.strip() == "ledger BROKEN at entry 2: its content was altered"


def test_ledger_verify_catches_a_removed_tail(cli: Cli) -> None:
    _prospect_with_mail(cli, 2)
    assert cli("sweep", now="2026-06-10").code == 0
    with sqlite3.connect(cli.home / "index.db") as conn:
        conn.execute("DELETE FROM ledgerentry WHERE seq = (SELECT max(seq) FROM ledgerentry)")
    broken = cli("ledger", "verify", "--json")
    assert broken.code == 1 and broken.json()["first_broken"] == 3


def test_sweep_removes_what_killed_runs_left_in_private_work_folders(cli: Cli) -> None:
    """GIVEN an index snapshot and an export folder a killed run left a day ago, and a
    fresh one of a run still going THEN the sweep removes the old ones only."""
    import os
    import time

    old = time.time() - 2 * 86400
    snapshot = cli.home / "tmp" / "snapshot-dead"
    bundle = cli.home / "work" / "tmpabc"
    running = cli.home / "tmp" / "snapshot-running"
    for path in (snapshot, running):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"SQLite format 3\x00 Greta Holm")
    (bundle / "export.zip").parent.mkdir(parents=True)
    (bundle / "export.zip").write_bytes(b"PK Greta Holm")
    for path in (snapshot, bundle / "export.zip", bundle):
        os.utime(path, (old, old))
    swept = cli("sweep", "--json")
    assert swept.code == 0 and swept.json()["stale_temp_removed"] == 2
    assert not snapshot.exists() and not bundle.exists() and running.exists()
