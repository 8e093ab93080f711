"""failed logins throttled per client address and account, not per account

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 22:00:00

Five wrong passwords from anywhere used to lock the account for 15 minutes,
so a stranger could keep the coach out for good. `loginthrottle` counts
failures per keyed hash of (client address, user name) and makes only that
pair wait, longer after each failure.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('loginthrottle',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('next_try_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_index(op.f('ix_loginthrottle_updated_at'), 'loginthrottle', ['updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_loginthrottle_updated_at'), table_name='loginthrottle')
    op.drop_table('loginthrottle')
