"""The nightly sweep, with a fixed clock across years, on the local store and on a
versioned bucket on moto's server."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from models.clock import FixedClock
from models.enums import HoldKind, ItemKind, LegalBasis
from models.policy import Policy
from models.tables import Consent, Item, ItemText, LedgerEntry, MarketingBlock, Subject
from storage import ledger
from storage.blobs import BlobStore, DeleteOutcome
from storage.engine import make_engine, migrate
from storage.holds import add_hold, lift_hold
from storage.local import LocalBlobStore
from storage.registry import NewIdentifier, add_subject, end_engagement, start_engagement
from storage.s3 import S3BlobStore
from storage.sweep import SweepOptions, SweepResult, run_sweep
from tests.conftest import new_bucket
from tests.factory import make_item

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PHRASE = "Sömnproblemen har blivit bättre sedan förra sessionen"
KEY = b"k" * 32


@pytest.fixture(params=["local", pytest.param("s3-versioned", marks=pytest.mark.integration)])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    client: S3Client = request.getfixturevalue("s3_client")
    return S3BlobStore(client, new_bucket(client, versioned=True), prefix="g")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def sweep_on(
    engine: Engine,
    blobs: BlobStore,
    policy: Policy,
    day: date | datetime,
    *,
    dry_run: bool = False,
    preview_days: int = 0,
    batch_size: int = 500,
) -> SweepResult:
    clock = FixedClock(day) if isinstance(day, datetime) else FixedClock.on(day)
    options = SweepOptions(dry_run=dry_run, preview_days=preview_days, batch_size=batch_size)
    return run_sweep(engine, blobs, policy, clock, options=options, hash_key=KEY)


def client_with_item(
    engine: Engine, blobs: BlobStore, policy: Policy, *, ended: date
) -> tuple[int, int, str]:
    with Session(engine, expire_on_commit=False) as s:
        person = add_subject(
            s, display_name="Klara Klient", identifiers=[NewIdentifier.email("klara@example.se")]
        )
        assert person.id
        engagement = start_engagement(s, client_id=person.id, starts_on=date(2015, 1, 1))
        assert engagement.id
        end_engagement(s, engagement_id=engagement.id, ends_on=ended)
        item = make_item(s, blobs, policy, text=PHRASE, subjects=[person.id])
        s.commit()
        assert item.id
        return person.id, item.id, item.blob_key


def live_ids(engine: Engine) -> set[int]:
    with Session(engine) as s:
        return {i for i in s.exec(select(Item.id)) if i is not None}


def test_contract_data_goes_on_1_january_and_not_a_minute_before(
    db: Engine, blobs: BlobStore, policy: Policy
) -> None:
    _, item_id, key = client_with_item(db, blobs, policy, ended=date(2026, 3, 10))
    eve = sweep_on(db, blobs, policy, datetime(2031, 12, 31, 22, 59, tzinfo=UTC))
    assert eve.deleted == 0 and item_id in live_ids(db) and blobs.exists(key)
    new_year = sweep_on(db, blobs, policy, datetime(2031, 12, 31, 23, 0, tzinfo=UTC))
    assert (new_year.deleted, new_year.deleted_by_rule, new_year.failures) == (
        1,
        {"contract": 1},
        [],
    )
    assert item_id not in live_ids(db)
    assert not blobs.exists(key)  # no version, no delete marker on a versioned bucket
    with Session(db) as s:
        assert s.exec(select(func.count()).select_from(ItemText)).one() == 0
        entry = s.exec(select(LedgerEntry).where(LedgerEntry.item_id == item_id)).one()
        assert entry.rule_id == "contract" and "blob-absent" in entry.detail
        assert ledger.verify(s).ok
    again = sweep_on(db, blobs, policy, date(2032, 1, 2))
    assert (again.deleted, again.resumed, again.failures) == (0, 0, [])


def test_no_readable_residue_in_the_index_files(db: Engine, tmp_path: Path, policy: Policy) -> None:
    blobs = LocalBlobStore(tmp_path / "b")
    client_with_item(db, blobs, policy, ended=date(2020, 1, 1))
    sweep_on(db, blobs, policy, date(2026, 11, 30))
    db.dispose()
    for name in ("index.db", "index.db-wal"):
        path = tmp_path / name
        if path.exists():
            assert PHRASE.encode() not in path.read_bytes(), name
            assert b"klara@example.se" not in path.read_bytes(), name


def test_a_held_item_is_never_deleted_and_is_reported(
    db: Engine, blobs: BlobStore, policy: Policy
) -> None:
    person, item_id, key = client_with_item(db, blobs, policy, ended=date(2020, 1, 1))
    with Session(db, expire_on_commit=False) as s:
        hold = add_hold(
            s,
            kind=HoldKind.LEGAL_HOLD,
            reason="tvist",
            subject_id=person,
            review_on=date(2027, 1, 1),
        )
        s.commit()
        hold_id = hold.id
    held = sweep_on(db, blobs, policy, date(2026, 11, 30))
    assert (held.deleted, held.held_past_expiry, held.held_past_expiry_item_ids) == (
        0,
        1,
        [item_id],
    )
    assert blobs.exists(key)
    with Session(db, expire_on_commit=False) as s:
        assert s.get(Subject, person) is not None  # a held person stays too
        assert hold_id
        lift_hold(s, hold_id=hold_id, at=datetime(2026, 12, 1, tzinfo=UTC))
        item_hold = add_hold(s, kind=HoldKind.RESTRICTION, reason="art. 18", item_id=item_id)
        s.commit()
    assert sweep_on(db, blobs, policy, date(2026, 12, 2)).deleted == 0
    with Session(db) as s:
        assert item_hold.id
        lift_hold(s, hold_id=item_hold.id, at=datetime(2026, 12, 3, tzinfo=UTC))
        s.commit()
    lifted = sweep_on(db, blobs, policy, date(2026, 12, 4))
    assert lifted.deleted == 1 and lifted.subjects_deleted == 1 and not blobs.exists(key)


def test_prospect_who_signs_keeps_their_enquiry(
    db: Engine, blobs: BlobStore, policy: Policy
) -> None:
    with Session(db, expire_on_commit=False) as s:
        signer = add_subject(s, display_name="Signe")
        stays_prospect = add_subject(s, display_name="Per")
        assert signer.id and stays_prospect.id
        enquiry = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
        kept = make_item(
            s, blobs, policy, text="Hej, jag undrar...", subjects=[signer.id], received=enquiry
        )
        gone = make_item(
            s,
            blobs,
            policy,
            text="Hej, vad kostar...",
            subjects=[stays_prospect.id],
            received=enquiry,
        )
        start_engagement(s, client_id=signer.id, starts_on=date(2026, 5, 1))
        s.commit()
    result = sweep_on(db, blobs, policy, date(2026, 6, 6))
    assert result.deleted_by_rule == {"prospect": 1}
    assert live_ids(db) == {kept.id}
    assert result.subjects_deleted == 1  # the prospect's registry entry went with their last item
    assert not blobs.exists(gone.blob_key)


def test_consent_withdrawal_and_objection_change_exactly_their_items(
    db: Engine, blobs: BlobStore, policy: Policy
) -> None:
    with Session(db, expire_on_commit=False) as s:
        person = add_subject(
            s, display_name="Olle", identifiers=[NewIdentifier.email("olle@example.org")]
        )
        assert person.id
        start_engagement(s, client_id=person.id, starts_on=date(2025, 1, 1))
        contract = make_item(s, blobs, policy, text="avtal", subjects=[person.id])
        consented = make_item(
            s,
            blobs,
            policy,
            text="testimonial",
            subjects=[person.id],
            purpose="consented",
            basis=LegalBasis.CONSENT,
        )
        marketing = make_item(
            s,
            blobs,
            policy,
            text="nyhetsbrev",
            subjects=[person.id],
            purpose="marketing",
            basis=LegalBasis.LEGITIMATE_INTEREST,
        )
        s.add(
            Consent(
                subject_id=person.id,
                purpose="consented",
                given_at=datetime(2025, 1, 1, tzinfo=UTC),
                withdrawn_at=datetime(2026, 2, 1, 10, 0, tzinfo=UTC),
            )
        )
        s.commit()
    first = sweep_on(db, blobs, policy, date(2026, 2, 1))
    assert first.deleted_by_rule == {"consent": 1}
    assert live_ids(db) == {contract.id, marketing.id}
    with Session(db) as s:
        subject = s.get(Subject, person.id)
        assert subject
        subject.marketing_blocked_on = date(2026, 3, 1)
        s.add(subject)
        s.commit()
    second = sweep_on(db, blobs, policy, date(2026, 3, 1))
    assert second.deleted_by_rule == {"marketing": 1}
    assert live_ids(db) == {contract.id}
    assert not blobs.exists(consented.blob_key)


def test_a_blob_another_item_uses_is_kept(db: Engine, blobs: BlobStore, policy: Policy) -> None:
    with Session(db, expire_on_commit=False) as s:
        old = add_subject(s, display_name="Gammal")
        new = add_subject(s, display_name="Ny")
        assert old.id and new.id
        start_engagement(s, client_id=new.id, starts_on=date(2026, 1, 1))
        expired = make_item(
            s,
            blobs,
            policy,
            text="same bytes",
            subjects=[old.id],
            blob_key="shared/x",
            received=datetime(2020, 1, 1, tzinfo=UTC),
            kind=ItemKind.ATTACHMENT,  # one attachment in two e-mails: one blob, two items
        )
        make_item(
            s,
            blobs,
            policy,
            text="same bytes",
            subjects=[new.id],
            blob_key="shared/x",
            kind=ItemKind.ATTACHMENT,
        )
        s.commit()
    result = sweep_on(db, blobs, policy, date(2026, 11, 30))
    assert result.deleted == 1 and result.blobs_deleted == 0 and blobs.exists("shared/x")
    with Session(db) as s:
        entry = s.exec(select(LedgerEntry).where(LedgerEntry.item_id == expired.id)).one()
        assert "blob-kept-for-another-item" in entry.detail


def test_dry_run_and_preview_touch_nothing(db: Engine, blobs: BlobStore, policy: Policy) -> None:
    _, item_id, key = client_with_item(db, blobs, policy, ended=date(2026, 3, 10))
    today = sweep_on(db, blobs, policy, date(2031, 12, 1), dry_run=True)
    assert today.would_delete_item_ids == []
    ahead = sweep_on(db, blobs, policy, date(2031, 12, 1), dry_run=True, preview_days=31)
    assert ahead.would_delete_item_ids == [item_id] and ahead.deleted_by_rule == {"contract": 1}
    assert ahead.bytes_freed == len(PHRASE.encode())
    assert item_id in live_ids(db) and blobs.exists(key)
    with Session(db) as s:
        assert s.exec(select(func.count()).select_from(LedgerEntry)).one() == 0


def test_marketing_block_survives_only_as_a_keyed_hash(
    db: Engine, blobs: BlobStore, policy: Policy
) -> None:
    with Session(db, expire_on_commit=False) as s:
        person = add_subject(
            s, display_name="Nej Tack", identifiers=[NewIdentifier.email("nej@example.se")]
        )
        person.marketing_blocked_on = date(2026, 1, 1)
        s.add(person)
        s.commit()
    # Registered without items: the entry lives 3 months from registration (today).
    result = sweep_on(db, blobs, policy, date.today() + timedelta(days=93))
    assert result.subjects_deleted == 1
    with Session(db) as s:
        [block] = s.exec(select(MarketingBlock)).all()
        assert "nej@example.se" not in block.address_hash and len(block.address_hash) == 64
        assert s.exec(select(func.count()).select_from(Subject)).one() == 0


class FlakyStore(LocalBlobStore):
    """A real local store whose delete fails for chosen keys (a store that is down for them)."""

    def __init__(self, root: Path, failing: set[str]) -> None:
        super().__init__(root)
        self.failing = failing

    def delete(self, keys: Iterable[str]) -> DeleteOutcome:
        wanted = list(keys)
        outcome = super().delete([k for k in wanted if k not in self.failing])
        outcome.failed.update({k: "AccessDenied" for k in wanted if k in self.failing})
        return outcome


def test_one_failure_is_reported_retried_and_blocks_nothing_else(
    db: Engine, tmp_path: Path, policy: Policy
) -> None:
    store = FlakyStore(tmp_path / "b", set())
    with Session(db, expire_on_commit=False) as s:
        person = add_subject(s, display_name="P")
        assert person.id
        items = [
            make_item(
                s,
                store,
                policy,
                text=f"m{n}",
                subjects=[person.id],
                received=datetime(2020, 1, 1, tzinfo=UTC),
            )
            for n in range(3)
        ]
        s.commit()
    store.failing = {items[1].blob_key}
    first = sweep_on(db, store, policy, date(2026, 11, 30))
    assert first.deleted == 2
    assert first.failures == [{"item_id": items[1].id, "reason": "blob delete: AccessDenied"}]
    assert live_ids(db) == {items[1].id}
    store.failing = set()
    second = sweep_on(db, store, policy, date(2026, 12, 1))
    assert (second.resumed, second.deleted, second.failures) == (1, 1, [])
    with Session(db) as s:
        assert ledger.verify(s).entries == 4  # three items and the person


def test_many_items_in_batches(db: Engine, blobs: BlobStore, policy: Policy) -> None:
    n = 1200 if isinstance(blobs, LocalBlobStore) else 250
    with Session(db, expire_on_commit=False) as s:
        person = add_subject(s, display_name="Bulk")
        assert person.id
        for i in range(n):
            make_item(
                s,
                blobs,
                policy,
                text=f"{i}",
                subjects=[person.id],
                received=datetime(2020, 1, 1, tzinfo=UTC),
            )
        s.commit()
    result = sweep_on(db, blobs, policy, date(2026, 11, 30), batch_size=200)
    assert result.deleted == n and result.failures == []
    assert list(blobs.keys()) == []
    with Session(db) as s:
        assert ledger.verify(s).entries == n + 1
        assert (
            s.exec(select(func.count()).select_from(Item).where(col(Item.state) != "live")).one()
            == 0
        )
