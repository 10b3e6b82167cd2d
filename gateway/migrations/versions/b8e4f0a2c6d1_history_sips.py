"""history_sips: the SIPs counted before the gateway, for the SIP statistics (DESIGN 5.8)

Revision ID: b8e4f0a2c6d1
Revises: b8e2f4a6c1d3
Create Date: 2026-12-02 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db

revision = 'b8e4f0a2c6d1'
down_revision = 'b8e2f4a6c1d3'
branch_labels = None
depends_on = None

INDEXED = ('invited_on', 'held_on', 'cancelled_on')


def upgrade() -> None:
    op.create_table(
        'history_sips',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('reference', sa.String(length=100), nullable=False),
        sa.Column('care_unit', sa.String(length=31), nullable=False),
        sa.Column('sender_unit', sa.String(length=200), nullable=False),
        sa.Column('invited_on', sa.Date(), nullable=False),
        sa.Column('held_on', sa.Date(), nullable=True),
        sa.Column('cancelled_on', sa.Date(), nullable=True),
        sa.Column('reko_attended', sa.Boolean(), nullable=True),
        sa.Column('imported_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_history_sips')),
        sa.UniqueConstraint('reference', name=op.f('uq_history_sips_reference')),
    )
    with op.batch_alter_table('history_sips', schema=None) as batch_op:
        for column in INDEXED:
            batch_op.create_index(f'ix_history_sips_{column}', [column], unique=False)


def downgrade() -> None:
    op.drop_table('history_sips')
