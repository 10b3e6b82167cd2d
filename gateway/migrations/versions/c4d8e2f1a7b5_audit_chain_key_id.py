"""audit_entries.key_id: the audit chain is keyed (HMAC-SHA256 under a vault chain key by id)

Entries made before this revision keep key_id NULL and stay plain SHA-256: the vault's key file
records the last of them (`chain.legacy_until`, set when its first chain key is made), and
`gateway audit verify` accepts an unkeyed entry only up to that seq. The first keyed entry after
them covers the last legacy hash, so the legacy part cannot be rewritten without breaking it.

Revision ID: c4d8e2f1a7b5
Revises: c3d9a7e51f02
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'c4d8e2f1a7b5'
down_revision = 'c3d9a7e51f02'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_column('key_id')
