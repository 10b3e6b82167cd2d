"""signing_requests: answers prepared for a signature made in the REKO's browser

Revision ID: c4d8e2f1a7b6
Revises: d4a8f1c3b2e6
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db

revision = 'c4d8e2f1a7b6'
down_revision = 'd4a8f1c3b2e6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'signing_requests',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('inquiry_id', sa.String(length=36), nullable=False),
        sa.Column('requested_by', sa.String(length=200), nullable=False),
        sa.Column('state', sa.LargeBinary(), nullable=False),
        sa.Column('structured', sa.LargeBinary(), nullable=True),
        sa.Column('created_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['inquiry_id'], ['inquiries.id'],
            name=op.f('fk_signing_requests_inquiry_id_inquiries'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_requests')),
    )
    with op.batch_alter_table('signing_requests', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_signing_requests_inquiry_id'), ['inquiry_id'], unique=False
        )
        batch_op.create_index(
            batch_op.f('ix_signing_requests_expires_at'), ['expires_at'], unique=False
        )


def downgrade() -> None:
    op.drop_table('signing_requests')
