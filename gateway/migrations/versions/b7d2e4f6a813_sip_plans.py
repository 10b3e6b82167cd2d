"""sip_plans: the plan of a held SIP meeting shared with the VC, sealed (DESIGN 5.8)

Revision ID: b7d2e4f6a813
Revises: b3d5f7a9c1e4
Create Date: 2026-12-02 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db

revision = 'b7d2e4f6a813'
down_revision = 'b3d5f7a9c1e4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sip_plans',
        sa.Column('inquiry_id', sa.String(length=36), nullable=False),
        sa.Column('pdf_digest', sa.String(length=64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('shared_by', sa.String(length=200), nullable=False),
        sa.Column('shared_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('pdf', sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'],
                                name=op.f('fk_sip_plans_inquiry_id_inquiries'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('inquiry_id', name=op.f('pk_sip_plans')),
    )


def downgrade() -> None:
    op.drop_table('sip_plans')
