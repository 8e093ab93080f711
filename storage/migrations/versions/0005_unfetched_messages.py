"""messages the server would not deliver

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 23:30:00

One row per message a FETCH of it alone failed on a working connection: the
sync goes on past it instead of stopping the folder for good, tries it again
every run, and deletes the row once it is fetched or gone from the server.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('unfetchedmessage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('folder', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('uidvalidity', sa.Integer(), nullable=False),
    sa.Column('uid', sa.Integer(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('first_failed_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_failed_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'folder', 'uidvalidity', 'uid', name='uq_unfetched_position')
    )


def downgrade() -> None:
    op.drop_table('unfetchedmessage')
