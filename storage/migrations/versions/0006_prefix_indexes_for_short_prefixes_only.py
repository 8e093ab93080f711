"""prefix indexes for two- and three-letter prefixes only (SQLite)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 04:30:00

SQLite: item_fts is rebuilt with prefix='2 3' instead of '2 3 4 5 6 7 8'.
Every search word is asked as a prefix. Without an index for its length
FTS5 reads the terms that start with it: for two or three letters that can
be thousands of terms (kept indexed), for four or more letters a handful.
Each prefix index costs every insert an entry for every distinct word
in every item: tokenising 29 MB of mixed Swedish text (2000 items) took
1.7-1.9 s of CPU with seven prefix indexes, 0.8 with two, 0.65 with none.
The triggers, tokenizer and detail=column are unchanged; PostgreSQL is
untouched.
"""
from collections.abc import Sequence

from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fts(prefix: str) -> list[str]:
    return [
        "DROP TABLE item_fts",
        "CREATE VIRTUAL TABLE item_fts USING fts5("
        "body, content='itemtext', content_rowid='item_id', "
        f"tokenize='unicode61 remove_diacritics 2', prefix='{prefix}', detail=column)",
        "INSERT INTO item_fts(item_fts) VALUES ('rebuild')",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _fts("2 3"):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _fts("2 3 4 5 6 7 8"):
            op.execute(statement)
