"""inquiry_summaries: per inquiry the status and the first time of each leg kind, kept as legs
are written (the lists and the statistics read it instead of every leg); filled from the legs

Revision ID: b7e4c2a9d1f3
Revises: 4e7a1c2b9d30
Create Date: 2026-12-02 10:30:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from gateway.db import UTCDateTime

revision = 'b7e4c2a9d1f3'
down_revision = '4e7a1c2b9d30'
branch_labels = None
depends_on = None

KINDS = ('submitted', 'received', 'opened', 'answered', 'answer_delivered', 'registered',
         'closed')
# The workflow's status rule as of this revision (gateway.inquiries.workflow), for the fill.
MOVES = {'received': 'received', 'rerouted': 'received', 'opened': 'opened',
         'answered': 'answered', 'answer_delivered': 'answer_delivered',
         'registered': 'registered', 'closed': 'closed'}
FINAL = ('closed', 'registered')


def upgrade() -> None:
    summaries = op.create_table(
        'inquiry_summaries',
        sa.Column('inquiry_id', sa.String(length=36), nullable=False),
        sa.Column('status', sa.String(length=40), nullable=False),
        *(sa.Column(kind, UTCDateTime(), nullable=True) for kind in KINDS),
        sa.Column('started', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'],
                                name=op.f('fk_inquiry_summaries_inquiry_id_inquiries'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('inquiry_id', name=op.f('pk_inquiry_summaries')),
    )
    op.create_index('ix_inquiry_summaries_status', 'inquiry_summaries', ['status'])
    op.create_index('ix_inquiry_summaries_started', 'inquiry_summaries', ['started'])
    _fill(summaries)


def _fill(summaries: Any) -> None:
    """Fold the existing legs, in the order written, into one summary per inquiry."""
    legs = sa.table('legs', sa.column('id', sa.Integer), sa.column('inquiry_id', sa.String),
                    sa.column('kind', sa.String), sa.column('at', UTCDateTime()))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(legs.c.inquiry_id, legs.c.kind, legs.c.at).order_by(legs.c.inquiry_id,
                                                                       legs.c.id)
    )
    batch: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for inquiry_id, kind, at in rows:
        if current is None or current['inquiry_id'] != inquiry_id:
            current = {'inquiry_id': inquiry_id, 'status': 'received', 'started': None,
                       **dict.fromkeys(KINDS)}
            batch.append(current)
        if current['status'] not in FINAL:
            current['status'] = MOVES.get(kind, current['status'])
        if kind in KINDS and (current[kind] is None or at < current[kind]):
            current[kind] = at
        current['started'] = current['submitted'] or current['received']
    for start in range(0, len(batch), 1000):
        connection.execute(summaries.insert(), batch[start:start + 1000])


def downgrade() -> None:
    op.drop_index('ix_inquiry_summaries_started', table_name='inquiry_summaries')
    op.drop_index('ix_inquiry_summaries_status', table_name='inquiry_summaries')
    op.drop_table('inquiry_summaries')
