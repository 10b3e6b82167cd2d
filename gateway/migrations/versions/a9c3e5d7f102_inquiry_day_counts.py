"""inquiry_day_counts and inquiry_leg_time_counts: the yearly report's live counts as changes
per day and its leg times in bins, kept as legs are written; the summaries keep the form type,
units and deadline they were counted with and each leg's seconds; all filled from the existing
summaries and inquiries

Revision ID: a9c3e5d7f102
Revises: a7c3e5f1b9d2
Create Date: 2026-12-02 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.db import UTCDateTime
from gateway.inquiries import daycounts
from gateway.stats.sqltime import epoch_seconds

revision = 'a9c3e5d7f102'
down_revision = 'a7c3e5f1b9d2'
branch_labels = None
depends_on = None

UNIT_COLUMNS = ('form_type', 'care_unit_id', 'sender_unit_id', 'deadline')
KINDS = ('submitted', 'received', 'opened', 'answered', 'answer_delivered', 'registered',
         'closed')
SECONDS = tuple(column for _, _, column in daycounts.PAIRS)
BATCH = 5000


def upgrade() -> None:
    # Added in place (nullable): on SQLite no table is recreated.
    op.add_column('inquiry_summaries', sa.Column('form_type', sa.String(length=40),
                                                 nullable=True))
    op.add_column('inquiry_summaries', sa.Column('care_unit_id', sa.Integer(), nullable=True))
    op.add_column('inquiry_summaries', sa.Column('sender_unit_id', sa.Integer(), nullable=True))
    op.add_column('inquiry_summaries', sa.Column('deadline', sa.Date(), nullable=True))
    for column in SECONDS:
        op.add_column('inquiry_summaries', sa.Column(column, sa.BigInteger(), nullable=True))
        op.create_index(f'ix_inquiry_summaries_{column}', 'inquiry_summaries',
                        [column, 'started', 'form_type'], sqlite_where=sa.text(f'{column} IS NOT NULL'),
                        postgresql_where=sa.text(f'{column} IS NOT NULL'))
    times = op.create_table(
        'inquiry_leg_time_counts',
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('leg', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('bin', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('month', 'leg', 'bin', name=op.f('pk_inquiry_leg_time_counts')),
        sqlite_with_rowid=False,
    )
    counts = op.create_table(
        'inquiry_day_counts',
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('care_unit_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('sender_unit_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in daycounts.MEASURES),
        sa.PrimaryKeyConstraint('month', 'care_unit_id', 'sender_unit_id', 'day',
                                name=op.f('pk_inquiry_day_counts')),
        sqlite_with_rowid=False,
    )
    _fill(counts, times)


def _fill(counts: sa.Table, times: sa.Table) -> None:
    """The summaries take their inquiry's form type, units and deadline and each leg's seconds
    (as the statistics computed them); the counts are the sums of what every summary gives
    (gateway.inquiries.daycounts, the rule add_leg keeps)."""
    summaries = sa.table(
        'inquiry_summaries', sa.column('inquiry_id', sa.String),
        *(sa.column(name) for name in UNIT_COLUMNS[:3]), sa.column('deadline', sa.Date),
        *(sa.column(kind, UTCDateTime()) for kind in KINDS),
        *(sa.column(name, sa.BigInteger) for name in SECONDS),
    )
    inquiries = sa.table('inquiries', sa.column('id', sa.String),
                         *(sa.column(name) for name in UNIT_COLUMNS))
    connection = op.get_bind()
    dialect = connection.dialect.name
    connection.execute(summaries.update().values({
        **{name: sa.select(inquiries.c[name]).where(inquiries.c.id == summaries.c.inquiry_id)
           .scalar_subquery() for name in UNIT_COLUMNS},
        **{column: epoch_seconds(dialect, summaries.c[end])
           - epoch_seconds(dialect, summaries.c[start])
           for start, end, column in daycounts.PAIRS},
    }))
    found = connection.execute(
        sa.select(*(summaries.c[name] for name in daycounts.FACT_COLUMNS))
    ).all()
    for table, rows in ((counts, daycounts.as_rows(daycounts.totals(found))),
                        (times, daycounts.time_rows(daycounts.time_totals(found)))):
        for start in range(0, len(rows), BATCH):
            connection.execute(table.insert(), rows[start:start + BATCH])


def downgrade() -> None:
    op.drop_table('inquiry_leg_time_counts')
    op.drop_table('inquiry_day_counts')
    for column in SECONDS:
        op.drop_index(f'ix_inquiry_summaries_{column}', table_name='inquiry_summaries')
    with op.batch_alter_table('inquiry_summaries') as batch_op:
        for name in reversed((*UNIT_COLUMNS, *SECONDS)):
            batch_op.drop_column(name)
