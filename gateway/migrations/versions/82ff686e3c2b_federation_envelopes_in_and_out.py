"""federation_envelopes: SDK envelopes sent to and received from peer gateways (DESIGN 7)

Revision ID: 82ff686e3c2b
Revises: b7e4c2a9d1f3
Create Date: 2026-12-02 10:08:55.797608
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db


revision = '82ff686e3c2b'
down_revision = 'b7e4c2a9d1f3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('federation_envelopes',
    sa.Column('key', sa.String(length=36), nullable=False),
    sa.Column('xhe_id', sa.String(length=100), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('peer', sa.String(length=100), nullable=True),
    sa.Column('message_id', sa.String(length=100), nullable=True),
    sa.Column('ref_id', sa.String(length=100), nullable=True),
    sa.Column('inquiry_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('receipt', sa.JSON(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', gateway.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('created', gateway.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', gateway.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_federation_envelopes')),
    sa.UniqueConstraint('direction', 'xhe_id', name=op.f('uq_federation_envelopes_direction'))
    )
    with op.batch_alter_table('federation_envelopes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_federation_envelopes_inquiry_id'), ['inquiry_id'], unique=False)
        batch_op.create_index('ix_federation_envelopes_message', ['message_id'], unique=False)
        batch_op.create_index('ix_federation_envelopes_ref', ['ref_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('federation_envelopes', schema=None) as batch_op:
        batch_op.drop_index('ix_federation_envelopes_ref')
        batch_op.drop_index('ix_federation_envelopes_message')
        batch_op.drop_index(batch_op.f('ix_federation_envelopes_inquiry_id'))

    op.drop_table('federation_envelopes')
