"""job locks; every place an e-mail was seen at; one e-mail per content

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 20:00:00

- `joblock`: the lease row SQLite uses for jobs that must run alone
  (storage.locks; PostgreSQL uses an advisory lock and never writes here).
- `itemsource`: each place an e-mail was seen at (source with its folder,
  and UIDVALIDITY:UID or the archive entry). A message in two configured
  mailboxes is stored once, and the sweep deleted its server copy only at
  the position stored with the item: the second mailbox kept it forever.
  The sweep now erases and verifies at every position. Existing e-mails get
  the position they were stored with.
- Two ingests of one source running at once could store one message twice
  (the duplicate check had no constraint behind it). Each e-mail stored more
  than once is merged into its oldest row: the people, holds and source
  positions of the copies move to it, the copies' attachment rows (the same
  bytes, the same content-addressed blobs) and rows go, and each merge is a
  ledger entry `item-merged` naming both ids. Blobs are untouched: the copies
  share the keeper's content-addressed blob. Then a unique index on the
  e-mails' sha256 makes a duplicate impossible. The whole revision runs in
  one transaction: a crash leaves the index as it was, and the next run of
  `gallra init` or any migrating command does it again.

The ledger entry is written by storage.ledger.append on purpose: the chain's
format is the ledger's own, and an entry written any other way would not
verify.
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _merge_duplicate_emails() -> int:
    from sqlmodel import Session

    from storage import ledger

    bind = op.get_bind()
    groups = bind.execute(
        sa.text(
            "SELECT sha256, min(id) FROM item WHERE kind = 'email' "
            "GROUP BY sha256 HAVING count(*) > 1 ORDER BY min(id)"
        )
    ).all()
    merged = 0
    session = Session(bind=bind)
    now = datetime.now(UTC)
    for sha256, keeper in groups:
        copies = bind.execute(
            sa.text("SELECT id FROM item WHERE kind = 'email' AND sha256 = :s AND id <> :k"),
            {"s": sha256, "k": keeper},
        ).scalars().all()
        for copy in copies:
            params = {"k": keeper, "c": copy}
            bind.execute(
                sa.text(
                    "INSERT INTO itemsubject (item_id, subject_id, role, reason) "
                    "SELECT :k, subject_id, role, reason FROM itemsubject WHERE item_id = :c "
                    "AND subject_id NOT IN (SELECT subject_id FROM itemsubject WHERE item_id = :k)"
                ),
                params,
            )
            bind.execute(sa.text("UPDATE hold SET item_id = :k WHERE item_id = :c"), params)
            bind.execute(sa.text("UPDATE itemsource SET item_id = :k WHERE item_id = :c"), params)
            children = bind.execute(
                sa.text("SELECT id FROM item WHERE parent_id = :c"), params
            ).scalars().all()
            for child in [*children, copy]:
                for table in ("itemtext", "itemsubject"):
                    bind.execute(sa.text(f"DELETE FROM {table} WHERE item_id = :i"), {"i": child})
                bind.execute(sa.text("UPDATE hold SET item_id = :k WHERE item_id = :i"),
                             {"k": keeper, "i": child})
                bind.execute(sa.text("UPDATE item SET parent_id = NULL WHERE parent_id = :i"),
                             {"i": child})
                bind.execute(sa.text("DELETE FROM item WHERE id = :i"), {"i": child})
            ledger.append(
                session,
                at=now,
                action="item-merged",
                item_id=copy,
                item_kind="email",
                sha256=sha256,
                detail={"kept_item_id": keeper, "attachment_rows_removed": len(children)},
            )
            merged += 1
    session.flush()
    return merged


def upgrade() -> None:
    op.create_table('joblock',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('itemsource',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source_ref', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('seen_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'source_ref', name='uq_itemsource_position')
    )
    op.create_index(op.f('ix_itemsource_item_id'), 'itemsource', ['item_id'], unique=False)
    op.execute(
        "INSERT INTO itemsource (item_id, source, source_ref, seen_at) "
        "SELECT min(id), source, source_ref, min(created_at) FROM item "
        "WHERE kind = 'email' AND source_ref <> '' GROUP BY source, source_ref"
    )
    _merge_duplicate_emails()
    op.create_index(
        'uq_item_email_sha256', 'item', ['sha256'], unique=True,
        sqlite_where=sa.text("kind = 'email'"), postgresql_where=sa.text("kind = 'email'"),
    )


def downgrade() -> None:
    op.drop_index('uq_item_email_sha256', table_name='item')
    op.drop_index(op.f('ix_itemsource_item_id'), table_name='itemsource')
    op.drop_table('itemsource')
    op.drop_table('joblock')
