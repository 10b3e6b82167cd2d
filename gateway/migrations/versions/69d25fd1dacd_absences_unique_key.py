"""absences: unique (coordinator, starts_on), the natural key the admin form inserts by

Revision ID: 69d25fd1dacd
Revises: 9bf33d2c0eb1
Create Date: 2026-12-02 06:23:14.410347
"""

from __future__ import annotations

from alembic import op

revision = '69d25fd1dacd'
down_revision = '9bf33d2c0eb1'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('absences', schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f('uq_absences_coordinator_id'), ['coordinator_id', 'starts_on']
        )


def downgrade() -> None:
    with op.batch_alter_table('absences', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_absences_coordinator_id'), type_='unique')
