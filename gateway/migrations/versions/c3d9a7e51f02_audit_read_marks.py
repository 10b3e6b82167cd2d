"""audit_read_marks: reads of personal data already logged in an access session

Revision ID: c3d9a7e51f02
Revises: c4d8e2f1a7b6
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db

revision = 'c3d9a7e51f02'
down_revision = 'c4d8e2f1a7b6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_read_marks',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('at', gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('digest', name=op.f('pk_audit_read_marks')),
    )
    op.create_index(op.f('ix_audit_read_marks_at'), 'audit_read_marks', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_audit_read_marks_at'), table_name='audit_read_marks')
    op.drop_table('audit_read_marks')
