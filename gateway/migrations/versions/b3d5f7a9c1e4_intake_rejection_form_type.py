"""intake_rejections.form_type: the form type a refused intake was sent as, so that each form
type's report counts its own refusals (NULL: from before it was recorded, or not known; the
hälsoförfrågan report counts those, as it did)

Revision ID: b3d5f7a9c1e4
Revises: c6e1d8a4f207
Create Date: 2026-12-02 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'b3d5f7a9c1e4'
down_revision = 'c6e1d8a4f207'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added in place (nullable): on SQLite no table is recreated.
    op.add_column('intake_rejections', sa.Column('form_type', sa.String(length=40),
                                                 nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('intake_rejections', schema=None) as batch_op:
        batch_op.drop_column('form_type')
