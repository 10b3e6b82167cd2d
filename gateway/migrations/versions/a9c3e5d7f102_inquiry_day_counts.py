"""inquiry_day_counts: the yearly report's live counts as changes per day, kept as legs are
written; the summaries keep the form type, units and deadline they were counted with; both
filled from the existing summaries and inquiries

Revision ID: a9c3e5d7f102
Revises: f1a2b3c4d5e6
Create Date: 2026-12-02 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.db import UTCDateTime
from gateway.inquiries import daycounts

revision = 'a9c3e5d7f102'
down_revision = 'f1a2b3c4d5e6'
branch_labels = None
depends_on = None

UNIT_COLUMNS = ('form_type', 'care_unit_id', 'sender_unit_id', 'deadline')
KINDS = ('submitted', 'received', 'answered', 'answer_delivered', 'registered', 'closed')
BATCH = 5000


def upgrade() -> None:
    # Added in place (nullable): on SQLite no table is recreated.
    op.add_column('inquiry_summaries', sa.Column('form_type', sa.String(length=40),
                                                 nullable=True))
    op.add_column('inquiry_summaries', sa.Column('care_unit_id', sa.Integer(), nullable=True))
    op.add_column('inquiry_summaries', sa.Column('sender_unit_id', sa.Integer(), nullable=True))
    op.add_column('inquiry_summaries', sa.Column('deadline', sa.Date(), nullable=True))
    counts = op.create_table(
        'inquiry_day_counts',
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('care_unit_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('sender_unit_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in daycounts.MEASURES),
        sa.PrimaryKeyConstraint('month', 'care_unit_id', 'sender_unit_id', 'day',
                                name=op.f('pk_inquiry_day_counts')),
    )
    _fill(counts)


def _fill(counts: sa.Table) -> None:
    """The summaries take their inquiry's form type, units and deadline; the counts are the sum
    of what every summary gives (gateway.inquiries.daycounts, the rule add_leg keeps)."""
    summaries = sa.table(
        'inquiry_summaries', sa.column('inquiry_id', sa.String),
        *(sa.column(name) for name in UNIT_COLUMNS[:3]), sa.column('deadline', sa.Date),
        *(sa.column(kind, UTCDateTime()) for kind in KINDS),
    )
    inquiries = sa.table('inquiries', sa.column('id', sa.String),
                         *(sa.column(name) for name in UNIT_COLUMNS))
    connection = op.get_bind()
    connection.execute(summaries.update().values({
        name: sa.select(inquiries.c[name]).where(inquiries.c.id == summaries.c.inquiry_id)
        .scalar_subquery()
        for name in UNIT_COLUMNS
    }))
    found = daycounts.totals(connection.execute(
        sa.select(*(summaries.c[name] for name in daycounts.FACT_COLUMNS))
    ))
    rows = daycounts.as_rows(found)
    for start in range(0, len(rows), BATCH):
        connection.execute(counts.insert(), rows[start:start + BATCH])


def downgrade() -> None:
    op.drop_table('inquiry_day_counts')
    with op.batch_alter_table('inquiry_summaries') as batch_op:
        for name in reversed(UNIT_COLUMNS):
            batch_op.drop_column(name)
