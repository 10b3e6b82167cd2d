"""audit_entries: indexes for the auditor's search (object, actor, action, time)

Revision ID: e2b7c4d9a1f5
Revises: d4a7c9e2b613
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

from alembic import op

revision = 'e2b7c4d9a1f5'
down_revision = 'd4a7c9e2b613'
branch_labels = None
depends_on = None

INDEXES = {
    'ix_audit_entries_object': ['object_type', 'object_id'],
    'ix_audit_entries_actor': ['actor'],
    'ix_audit_entries_action': ['action'],
    'ix_audit_entries_at': ['at'],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, 'audit_entries', columns, unique=False)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name='audit_entries')
