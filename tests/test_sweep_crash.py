"""SIGKILL the real `gallra sweep` at random points, then re-run: nothing is half-deleted,
no blob lacks a row, nothing is ledgered twice, and the ledger verifies."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from gallra.settings import get_settings
from gallra.wiring import App
from models.policy import load_policy
from models.tables import Item, LedgerEntry
from storage import ledger
from storage.blobs import BlobStore
from storage.engine import make_engine
from storage.registry import add_subject, end_engagement, start_engagement
from tests.conftest import Cli
from tests.factory import make_item

EXPIRED, KEPT = 1500, 50


def _store(home: Path) -> BlobStore:
    """The store the home's settings (and GALLRA_BLOBS__* env) name."""
    return App(settings=get_settings(home)).blobs


def _populate(home: Path, expired: int = EXPIRED) -> None:
    settings = get_settings(home)
    engine = make_engine(settings.index_url)
    blobs = _store(home)
    policy = load_policy()
    with Session(engine, expire_on_commit=False) as s:
        old = add_subject(s, display_name="Gammal Klient")
        current = add_subject(s, display_name="Aktiv Klient")
        assert old.id and current.id
        ended = start_engagement(s, client_id=old.id, starts_on=date(2015, 1, 1))
        assert ended.id
        end_engagement(s, engagement_id=ended.id, ends_on=date(2019, 6, 30))
        start_engagement(s, client_id=current.id, starts_on=date(2025, 1, 1))
        when = datetime(2019, 1, 1, tzinfo=UTC)
        for n in range(expired):
            make_item(s, blobs, policy, text=f"gammalt {n}", subjects=[old.id], received=when)
        for n in range(KEPT):
            make_item(s, blobs, policy, text=f"aktuellt {n}", subjects=[current.id])
        s.commit()
    engine.dispose()


def _ledgered(home: Path) -> int:
    """Ledger entries so far (read-only, beside a running sweep)."""
    index = home / "index.db"
    with contextlib.closing(sqlite3.connect(f"file:{index}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM ledgerentry").fetchone()[0])


def _check_invariants(home: Path) -> tuple[int, int]:
    settings = get_settings(home)
    engine = make_engine(settings.index_url)
    blobs = _store(home)
    with Session(engine) as s:
        rows = list(s.exec(select(Item)))
        keys_with_rows = {r.blob_key for r in rows}
        live = [row.blob_key for row in rows if row.state == "live"]
        assert not set(live) - blobs.remaining(live), "a live item lost its blob"
        orphans = set(blobs.keys()) - keys_with_rows
        assert not orphans, f"{len(orphans)} blobs without a row"
        assert ledger.verify(s).ok
        ledgered = [
            e.item_id
            for e in s.exec(select(LedgerEntry).where(col(LedgerEntry.item_id).is_not(None)))
        ]
        assert len(ledgered) == len(set(ledgered)), "an item was ledgered twice"
        assert not set(ledgered) & {r.id for r in rows}, "a ledgered item still has a row"
    engine.dispose()
    gallra = App(settings=get_settings(home))
    keyed = set(gallra.keystore.data_keys())
    assert not keyed - keys_with_rows, "a deleted blob's data key outlived it"
    assert set(live) <= keyed, "a live blob lost its data key"
    gallra.close()
    return len(rows), len(ledgered)


@pytest.mark.integration
@pytest.mark.parametrize("store", ["local", "s3-versioned"])
def test_sweep_killed_at_random_points_finishes_cleanly(
    tmp_path: Path, store: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    expired = EXPIRED
    if store == "s3-versioned":
        from storage.s3 import make_s3_client
        from tests.conftest import new_bucket

        endpoint = request.getfixturevalue("s3_endpoint")
        bucket = new_bucket(make_s3_client(endpoint_url=endpoint), versioned=True)
        monkeypatch.setenv("GALLRA_BLOBS__BACKEND", "s3")
        monkeypatch.setenv("GALLRA_BLOBS__BUCKET", bucket)
        monkeypatch.setenv("GALLRA_BLOBS__ENDPOINT_URL", endpoint)
        expired = 300  # moto answers ~10 ms a request
    cli = Cli(tmp_path / "home")
    assert cli("init").code == 0
    _populate(cli.home, expired)
    env = {**os.environ, "GALLRA_HOME": str(cli.home), "GALLRA_NOW": "2026-11-30"}
    rng = random.Random(20261130)
    kills = 0
    for _ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-m", "gallra", "sweep", "--batch-size", "25", "--json"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Kill mid-sweep, not during start-up: wait until this run has ledgered a deletion.
        before, deadline = _ledgered(cli.home), time.monotonic() + 60
        while proc.poll() is None and _ledgered(cli.home) == before:
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        _check_invariants(cli.home)
    assert kills >= 1, "the sweep always finished before the kill; make it bigger"
    final = cli("sweep", "--json", now="2026-11-30")
    assert final.code == 0, final.err
    assert final.json()["failures"] == []
    rows, ledgered = _check_invariants(cli.home)
    assert (rows, ledgered) == (KEPT, expired)
    assert cli("sweep", "--json", now="2026-11-30").json()["deleted"] == 0
    assert cli("ledger", "verify").code == 0
