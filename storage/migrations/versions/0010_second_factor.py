"""a second factor for the web login: a TOTP secret (sealed) and recovery codes (hashed)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 22:15:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('webuser') as batch:
        batch.add_column(sa.Column('totp_secret', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(
            sa.Column('recovery_hashes', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default='')
        )


def downgrade() -> None:
    with op.batch_alter_table('webuser') as batch:
        batch.drop_column('recovery_hashes')
        batch.drop_column('totp_last_step')
        batch.drop_column('totp_secret')
