"""users.phone and users.email: the staff contact the web form pre-fills

Revision ID: a7c3e5f1b9d2
Revises: b8e4f0a2c6d1
Create Date: 2026-12-02 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'a7c3e5f1b9d2'
down_revision = 'b8e4f0a2c6d1'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added in place: nullable columns need no table rebuild on SQLite.
    op.add_column('users', sa.Column('phone', sa.String(length=40), nullable=True))
    op.add_column('users', sa.Column('email', sa.String(length=254), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email')
        batch_op.drop_column('phone')
