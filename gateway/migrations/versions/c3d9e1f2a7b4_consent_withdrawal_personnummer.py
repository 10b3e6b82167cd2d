"""consent_withdrawals.personnummer: sealed, kept only until a peer's notice is sealed

A withdrawal towards a care unit a peer gateway serves is sent to that gateway as an SDK message
naming the person; the number waits here (sealed) for the job that builds the envelope, which
then clears it.

Revision ID: c3d9e1f2a7b4
Revises: d5a9f3c2b8e6
Create Date: 2026-12-02 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'c3d9e1f2a7b4'
down_revision = 'd5a9f3c2b8e6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('consent_withdrawals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('personnummer', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('consent_withdrawals', schema=None) as batch_op:
        batch_op.drop_column('personnummer')
