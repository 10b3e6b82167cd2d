"""answer_drafts: the REKO's unsent answers, sealed, kept between sessions

Revision ID: a7d3e9c1b5f2
Revises: f1a2b3c4d5e6
Create Date: 2026-12-02 17:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db

revision = 'a7d3e9c1b5f2'
down_revision = 'f1a2b3c4d5e6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'answer_drafts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('inquiry_id', sa.String(length=36), nullable=False),
        sa.Column('author', sa.String(length=200), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=True),
        sa.Column('saved_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'],
                                name=op.f('fk_answer_drafts_inquiry_id_inquiries'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_answer_drafts')),
        sa.UniqueConstraint('inquiry_id', 'author',
                            name=op.f('uq_answer_drafts_inquiry_id')),
    )
    with op.batch_alter_table('answer_drafts', schema=None) as batch_op:
        batch_op.create_index('ix_answer_drafts_inquiry_id', ['inquiry_id'], unique=False)


def downgrade() -> None:
    op.drop_table('answer_drafts')
