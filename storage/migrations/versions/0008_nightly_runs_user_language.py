"""nightly runs step by step; each web user's language

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 21:00:00

- `nightlyrun` and `runstep`: each nightly run and its steps (a mail source,
  recordings, sweep, backup), with counts and an error's type only, so the
  start page and `gallra today` read the same facts about last night.
- `webuser.language`: "sv" or "en"; empty means the browser's language,
  else Swedish.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('nightlyrun',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_nightlyrun_started_at'), 'nightlyrun', ['started_at'], unique=False)
    op.create_table('runstep',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('step', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('counts', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('error_type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('started_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['nightlyrun.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_runstep_run_id'), 'runstep', ['run_id'], unique=False)
    with op.batch_alter_table('webuser') as batch:
        batch.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webuser') as batch:
        batch.drop_column('language')
    op.drop_index(op.f('ix_runstep_run_id'), table_name='runstep')
    op.drop_table('runstep')
    op.drop_index(op.f('ix_nightlyrun_started_at'), table_name='nightlyrun')
    op.drop_table('nightlyrun')
