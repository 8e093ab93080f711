"""The index on SQLite and PostgreSQL: migrations, UTC timestamps, registry, ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session, select

from models.enums import ItemKind, LegalBasis, Role, SubjectStatus
from models.errors import InvalidInput
from models.personnummer import parse_personnummer
from models.policy import Policy
from models.tables import Item, ItemSubject, LedgerEntry, Subject
from storage import ledger
from storage.engine import current_revision, make_engine, migrate, transaction
from storage.expiry import recompute, subject_retention
from storage.registry import (
    NewIdentifier,
    add_party,
    add_subject,
    end_engagement,
    find_subject_by_email,
    start_engagement,
    subject_facts,
)

T0 = datetime(2026, 3, 6, 9, 30, tzinfo=UTC)


def _item(**over: object) -> Item:
    values: dict[str, object] = {
        "kind": ItemKind.EMAIL.value,
        "source": "test",
        "received_at": T0,
        "size": 3,
        "sha256": "a" * 64,
        "blob_key": "k",
        "purpose": "agreement",
        "legal_basis": LegalBasis.CONTRACT.value,
    }
    values.update(over)
    return Item(**values)  # type: ignore[arg-type]


def test_migrations_are_idempotent(engine: Engine) -> None:
    migrate(engine)
    assert current_revision(engine) == "0010"


def test_migrations_match_the_models(engine: Engine) -> None:
    """The migrated schema is the one the SQLModel tables describe (search objects aside)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    def ours(obj: object, name: str | None, type_: str, reflected: bool, other: object) -> bool:
        # The FTS5 tables and the tsvector column live outside SQLModel on purpose.
        return not (name or "").startswith(("item_fts", "alembic_version")) and name not in (
            "tsv",
            "ix_itemtext_tsv",
        )

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": ours, "compare_type": True}
        )
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_timestamps_are_aware_utc_and_naive_ones_are_refused(session: Session) -> None:
    stockholm = timezone(timedelta(hours=1))
    item = _item(received_at=datetime(2026, 1, 1, 0, 30, tzinfo=stockholm))
    session.add(item)
    session.commit()
    session.expire_all()
    loaded = session.get(Item, item.id)
    assert loaded is not None
    assert loaded.received_at == datetime(2025, 12, 31, 23, 30, tzinfo=UTC)
    assert loaded.received_at.tzinfo is not None
    session.add(_item(received_at=datetime(2026, 1, 1)))
    with pytest.raises(StatementError, match="naive"):
        session.flush()


def test_identifiers_are_unique_and_matched_case_insensitively(session: Session) -> None:
    astrid = add_subject(
        session,
        display_name="Astrid Exempel",
        identifiers=[NewIdentifier.email("Astrid.Exempel@Example.SE")],
    )
    assert find_subject_by_email(session, address="<astrid.exempel@example.se>") == astrid
    with pytest.raises(InvalidInput, match=f"already registered to subject {astrid.id}"):
        add_subject(
            session,
            display_name="Other",
            identifiers=[NewIdentifier.email("astrid.exempel@example.se")],
        )


def test_personnummer_is_stored_only_as_hash_and_mask(session: Session, engine: Engine) -> None:
    number = parse_personnummer("811218-9876", today=date(2026, 11, 30))
    add_subject(
        session,
        display_name="Bo Prov",
        identifiers=[NewIdentifier.personnummer(number, hash_key=b"k" * 32)],
    )
    session.commit()
    with engine.connect() as conn:
        values = [
            row[0] + row[1] for row in conn.execute(text("SELECT value, masked FROM identifier"))
        ]
    assert all("9876" not in v for v in values)


def test_engagements_drive_subject_facts(session: Session) -> None:
    client = add_subject(session, display_name="C")
    payer = add_subject(session, display_name="P")
    assert client.id and payer.id
    facts = subject_facts(session, subject_ids=[client.id])
    assert facts[client.id].status is SubjectStatus.PROSPECT
    engagement = start_engagement(session, client_id=client.id, starts_on=date(2025, 1, 1))
    assert engagement.id
    add_party(session, engagement_id=engagement.id, subject_id=payer.id, role=Role.PAYER)
    facts = subject_facts(session, subject_ids=[client.id, payer.id])
    assert facts[client.id].engagement_running and facts[payer.id].engagement_running
    with pytest.raises(InvalidInput, match="before the start"):
        end_engagement(session, engagement_id=engagement.id, ends_on=date(2024, 1, 1))
    end_engagement(session, engagement_id=engagement.id, ends_on=date(2026, 3, 10))
    facts = subject_facts(session, subject_ids=[client.id, payer.id])
    assert facts[payer.id].last_engagement_end == date(2026, 3, 10)
    assert "client" in client.role_list and "prospect" not in client.role_list


def test_recompute_moves_a_prospect_item_to_the_contract_rule(
    session: Session, policy: Policy
) -> None:
    """GIVEN a prospect's enquiry WHEN they sign THEN their earlier data follows the contract."""
    person = add_subject(session, display_name="Prospect")
    assert person.id
    item = _item()
    session.add(item)
    session.flush()
    assert item.id
    session.add(ItemSubject(item_id=item.id, subject_id=person.id, role="from", reason="test"))
    [change] = recompute(session, policy)
    assert (change.new_rule, change.new) == ("prospect", datetime(2026, 6, 5, 22, 0, tzinfo=UTC))
    engagement = start_engagement(session, client_id=person.id, starts_on=date(2026, 4, 1))
    preview = recompute(session, policy, subject_ids=[person.id], apply=False)
    assert [c.new_rule for c in preview] == ["contract"]
    assert session.get(Item, item.id).rule_id == "prospect"  # type: ignore[union-attr]
    recompute(session, policy, subject_ids=[person.id])
    assert session.get(Item, item.id).expires_at is None  # type: ignore[union-attr]
    assert engagement.id
    end_engagement(
        session, engagement_id=engagement.id, ends_on=date(2026, 3, 10 + 0) + timedelta(days=30)
    )
    recompute(session, policy)
    retention = subject_retention(session, policy, subject_id=person.id, today=date(2026, 11, 30))
    assert retention.deletable_from == date(2032, 1, 1) and retention.rule_id == "contract"


def test_ledger_chains_verifies_and_detects_tampering(session: Session, engine: Engine) -> None:
    for n in range(5):
        ledger.append(
            session,
            at=T0 + timedelta(minutes=n),
            action="delete",
            item_id=n,
            item_kind="email",
            sha256=f"{n:064d}",
            size=n,
            rule_id="prospect",
            policy_version="v",
            detail={"verified": ["blob", "row"]},
        )
    session.commit()
    assert ledger.verify(session).ok
    head = ledger.head(session)
    assert head.seq == 5

    with engine.begin() as conn:
        conn.execute(text("UPDATE ledgerentry SET size = 99 WHERE seq = 3"))
    session.expire_all()
    verdict = ledger.verify(session)
    assert (verdict.ok, verdict.first_broken) == (False, 3)
    assert "altered" in verdict.reason

    with engine.begin() as conn:
        conn.execute(text("UPDATE ledgerentry SET size = 2 WHERE seq = 3"))
        conn.execute(text("DELETE FROM ledgerentry WHERE seq = 2"))
    session.expire_all()
    verdict = ledger.verify(session)
    assert (verdict.ok, verdict.first_broken) == (False, 2)


def test_ledger_tail_removal_is_caught_against_a_recorded_head(
    session: Session, engine: Engine
) -> None:
    for n in range(3):
        ledger.append(session, at=T0, action="delete", item_id=n)
    session.commit()
    head = ledger.head(session)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM ledgerentry WHERE seq = 3"))
    session.expire_all()
    assert ledger.verify(session).ok  # the chain alone cannot see a cut tail
    verdict = ledger.verify(session, expected_head=head)
    assert not verdict.ok and verdict.first_broken == 3


def test_two_writers_cannot_fork_the_ledger(engine: Engine) -> None:
    with Session(engine) as one, Session(engine) as two:
        ledger.append(one, at=T0, action="delete", item_id=1)
        one.commit()
        # `two` read the head before `one` committed? Force it by appending with a stale head.
        entry = LedgerEntry(
            seq=1, at=T0, action="delete", prev_hash=ledger.GENESIS, entry_hash="x" * 64
        )
        two.add(entry)
        with pytest.raises(IntegrityError):
            two.commit()


def test_bulk_insert_numbers_new_rows_in_the_order_given(engine: Engine) -> None:
    """GIVEN 300 new people inserted in one step WHEN ids come back
    THEN the i-th id is the i-th row's, on SQLite (one executemany) and PostgreSQL."""
    from storage.bulk import insert_numbered

    now = datetime(2026, 11, 30, tzinfo=UTC)
    rows = [
        {"display_name": f"Prospekt {n}", "roles": "prospect", "created_at": now, "updated_at": now}
        for n in range(300)
    ]
    with transaction(engine) as session:
        session.add(Subject(display_name="Before", roles="client"))
        session.flush()
        ids = insert_numbered(session, Subject, rows)
    with Session(engine) as session:
        names = {s.id: s.display_name for s in session.exec(select(Subject))}
    assert [names[i] for i in ids] == [r["display_name"] for r in rows]


def test_bulk_insert_refuses_when_another_writer_inserted_in_between(tmp_path: Path) -> None:
    """GIVEN another connection adds a person between the bulk insert's look at the
    largest id and its insert THEN the numbering is refused and the rows rolled back."""
    from sqlalchemy import event

    from storage.bulk import ConcurrentInsert, insert_numbered

    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    migrate(engine)
    now = datetime(2026, 11, 30, tzinfo=UTC)
    rows = [{"display_name": "Ny", "roles": "prospect", "created_at": now, "updated_at": now}]

    sneaked: list[bool] = []

    def sneak_in(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO subject") and not sneaked:
            sneaked.append(True)
            with engine.connect() as other:  # a second connection, as the web page would be
                other.exec_driver_sql(
                    "INSERT INTO subject (display_name, roles, created_at, updated_at) "
                    "VALUES ('Other', 'client', '2026-11-30', '2026-11-30')"
                )
                other.commit()

    event.listen(engine, "before_cursor_execute", sneak_in)
    try:
        with pytest.raises(ConcurrentInsert), transaction(engine) as session:
            insert_numbered(session, Subject, rows)
    finally:
        event.remove(engine, "before_cursor_execute", sneak_in)
    with Session(engine) as session:
        assert [s.display_name for s in session.exec(select(Subject))] == ["Other"]
    engine.dispose()


def test_wal_checkpoints_run_in_a_helper_thread_during_a_bulk_ingest(tmp_path: Path) -> None:
    """GIVEN commits inside wal_checkpoints_in_background THEN no connection handed out
    auto-checkpoints, a helper thread does; afterwards every commit is in the database
    file, the helper is gone and connections auto-checkpoint again."""
    import threading

    from storage.engine import wal_checkpoints_in_background

    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    migrate(engine)
    with wal_checkpoints_in_background(engine):
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        assert "wal-checkpoint" in {t.name for t in threading.enumerate()}
        for n in range(30):
            with transaction(engine) as session:
                session.add(Subject(display_name=f"Person {n}", roles="client"))
    assert "wal-checkpoint" not in {t.name for t in threading.enumerate()}
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        busy, frames, checkpointed = connection.exec_driver_sql(
            "PRAGMA wal_checkpoint(PASSIVE)"
        ).one()
        assert busy == 0 and frames == checkpointed
    with Session(engine) as session:
        assert len(list(session.exec(select(Subject)))) == 30
    engine.dispose()


def test_wal_checkpoint_helper_stops_at_once_when_the_ingest_ends(tmp_path: Path) -> None:
    """GIVEN a helper waiting for a commit WHEN the block ends THEN it is woken and joined
    at once, not after its idle wait (which was 0.5 s at the end of every ingest)."""
    import threading

    from storage.engine import wal_checkpoints_in_background

    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    migrate(engine)

    def one_ingest(commits: int) -> None:
        with wal_checkpoints_in_background(engine, idle_wait=600.0):
            for n in range(commits):
                with transaction(engine) as session:
                    session.add(Subject(display_name=f"Person {n}", roles="client"))

    for commits in (0, 3):
        ended = threading.Thread(target=one_ingest, args=(commits,), daemon=True)
        ended.start()
        ended.join(timeout=60)  # a helper left to its idle wait would hold this for 600 s
        assert not ended.is_alive(), f"the helper was not woken at the end ({commits} commits)"
    with Session(engine) as session:
        assert len(list(session.exec(select(Subject)))) == 3
    engine.dispose()
