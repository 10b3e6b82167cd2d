"""used_assertions: private_key_jwt assertions already used (RFC 7523 jti), until they expire

Revision ID: 3c1f2a9d7e41
Revises: 69d25fd1dacd
Create Date: 2026-12-02 10:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db

revision = '3c1f2a9d7e41'
down_revision = '69d25fd1dacd'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'used_assertions',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('expires_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('digest', name=op.f('pk_used_assertions')),
    )
    op.create_index(op.f('ix_used_assertions_expires_at'), 'used_assertions', ['expires_at'])


def downgrade() -> None:
    op.drop_index(op.f('ix_used_assertions_expires_at'), table_name='used_assertions')
    op.drop_table('used_assertions')
