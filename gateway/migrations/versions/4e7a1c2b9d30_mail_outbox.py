"""mail_outbox: one row per mail and recipient, its Message-ID and when the relay accepted
it; jobs.lane: kinds that do not wait behind each other

Revision ID: 4e7a1c2b9d30
Revises: 5e7d9c1b2a33
Create Date: 2026-12-02 10:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db

revision = '4e7a1c2b9d30'
down_revision = '5e7d9c1b2a33'
branch_labels = None
depends_on = None

LANE_KINDS = {
    'mail': ['mail.send', 'inquiry.notify'],
    'scheduled': ['deadline.scan', 'audit.anchor'],
}


def upgrade() -> None:
    op.create_table('mail_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('created_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', gateway.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox')),
    sa.UniqueConstraint('key', name=op.f('uq_mail_outbox_key'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lane', sa.String(length=20), server_default='default',
                                      nullable=False))
        batch_op.create_index('ix_jobs_lane_due', ['lane', 'state', 'run_at'], unique=False)
    # Jobs queued before lanes: the kinds this release puts in a lane of their own.
    jobs = sa.table('jobs', sa.column('kind', sa.String), sa.column('lane', sa.String))
    for lane, kinds in LANE_KINDS.items():
        op.execute(jobs.update().where(jobs.c.kind.in_(kinds)).values(lane=lane))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_lane_due')
        batch_op.drop_column('lane')
    op.drop_table('mail_outbox')
