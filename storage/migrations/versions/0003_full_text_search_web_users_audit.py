"""full-text search, web users and sessions, audit log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 11:40:00

SQLite: an external-content FTS5 index over itemtext (no second copy of the
text), kept in step by triggers, folding diacritics so "mote" finds "möte",
with prefix indexes for 2-8 letters (every search word is a prefix: without
them "samtal*" merges every word that starts so, 15 ms instead of 3 at 100k).
PostgreSQL: a generated tsvector column on itemtext in a Swedish
configuration that unaccents before stemming, with a GIN index.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# tsvector is capped at 1 MB; a 250k-character prefix of a body stays far below it.
_PG_TEXT_LIMIT = 250_000

_SQLITE_UP = [
    "CREATE VIRTUAL TABLE item_fts USING fts5("
    "body, content='itemtext', content_rowid='item_id', "
    "tokenize='unicode61 remove_diacritics 2', prefix='2 3 4 5 6 7 8')",
    "CREATE TRIGGER itemtext_fts_ai AFTER INSERT ON itemtext BEGIN "
    "INSERT INTO item_fts(rowid, body) VALUES (new.item_id, new.body); END",
    "CREATE TRIGGER itemtext_fts_ad AFTER DELETE ON itemtext BEGIN "
    "INSERT INTO item_fts(item_fts, rowid, body) VALUES ('delete', old.item_id, old.body); END",
    "CREATE TRIGGER itemtext_fts_au AFTER UPDATE ON itemtext BEGIN "
    "INSERT INTO item_fts(item_fts, rowid, body) VALUES ('delete', old.item_id, old.body); "
    "INSERT INTO item_fts(rowid, body) VALUES (new.item_id, new.body); END",
    "INSERT INTO item_fts(item_fts) VALUES ('rebuild')",
]

_PG_UP = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE TEXT SEARCH CONFIGURATION gallra_sv (COPY = pg_catalog.swedish)",
    "ALTER TEXT SEARCH CONFIGURATION gallra_sv "
    "ALTER MAPPING FOR hword, hword_part, word WITH unaccent, swedish_stem",
    "ALTER TABLE itemtext ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
    f"(to_tsvector('gallra_sv'::regconfig, left(body, {_PG_TEXT_LIMIT}))) STORED",
    "CREATE INDEX ix_itemtext_tsv ON itemtext USING gin (tsv)",
]


def upgrade() -> None:
    bind = op.get_bind()
    for statement in _SQLITE_UP if bind.dialect.name == "sqlite" else _PG_UP:
        op.execute(statement)

    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.create_index('ix_item_state_received', ['state', 'received_at'], unique=False)

    op.create_table(
        'webuser',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('failed_logins', sa.Integer(), nullable=False),
        sa.Column('locked_until', models.types.UTCDateTime(), nullable=True),
        sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('username', name='uq_webuser_username'),
    )
    op.create_table(
        'websession',
        sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('csrf_token', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
        sa.Column('expires_at', models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['webuser.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_hash'),
    )
    op.create_table(
        'auditevent',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', models.types.UTCDateTime(), nullable=False),
        sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('action', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=True),
        sa.Column('subject_id', sa.Integer(), nullable=True),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('auditevent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auditevent_at'), ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('auditevent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auditevent_at'))
    op.drop_table('auditevent')
    op.drop_table('websession')
    op.drop_table('webuser')
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_index('ix_item_state_received')
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("itemtext_fts_ai", "itemtext_fts_ad", "itemtext_fts_au"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE item_fts")
    else:
        op.execute("DROP INDEX ix_itemtext_tsv")
        op.execute("ALTER TABLE itemtext DROP COLUMN tsv")
        op.execute("DROP TEXT SEARCH CONFIGURATION gallra_sv")
