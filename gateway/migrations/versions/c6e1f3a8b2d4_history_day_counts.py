"""history_day_counts: the yearly report's history counts as changes per day, kept as history
rows are imported; filled from the existing rows

Revision ID: c6e1f3a8b2d4
Revises: a9c3e5d7f102
Create Date: 2026-12-02 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.stats import historycounts

revision = 'c6e1f3a8b2d4'
down_revision = 'a9c3e5d7f102'
branch_labels = None
depends_on = None


def upgrade() -> None:
    counts = op.create_table(
        'history_day_counts',
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('care_unit', sa.String(length=31), nullable=False),
        sa.Column('sender_unit', sa.String(length=200), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False)
          for name in historycounts.BUCKET_COLUMNS),
        sa.PrimaryKeyConstraint('month', 'care_unit', 'sender_unit', 'day',
                                name=op.f('pk_history_day_counts')),
        sqlite_with_rowid=False,
    )
    rows = sa.table(
        'history_inquiries', sa.column('care_unit', sa.String), sa.column('sender_unit', sa.String),
        *(sa.column(name, sa.Date) for name in ('sent_on', 'answer_registered_on', 'closed_on')),
    )
    connection = op.get_bind()
    select = historycounts.changes(connection.dialect.name, rows=rows)
    connection.execute(counts.insert().from_select(
        [*historycounts.KEY_COLUMNS, *historycounts.BUCKET_COLUMNS], select
    ))


def downgrade() -> None:
    op.drop_table('history_day_counts')
