"""consent_withdrawals.sender_unit_id: a withdrawal blocks the inquiries of the unit it was given to

Revision ID: 5e7d9c1b2a33
Revises: 8a2e5b7c4d10
Create Date: 2026-12-02 11:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '5e7d9c1b2a33'
down_revision = '8a2e5b7c4d10'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('consent_withdrawals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender_unit_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_consent_withdrawals_sender_unit_id_sender_units'),
            'sender_units', ['sender_unit_id'], ['id'],
        )


def downgrade() -> None:
    with op.batch_alter_table('consent_withdrawals', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_consent_withdrawals_sender_unit_id_sender_units'), type_='foreignkey'
        )
        batch_op.drop_column('sender_unit_id')
