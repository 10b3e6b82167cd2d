"""sdk_messages: a SIP invitation may have several reply messages (kind "reply"); one inquiry
message and one answer message per inquiry stays the rule (a partial unique index)

Revision ID: c3f5a7e9b1d4
Revises: b7d2e4f6a813
Create Date: 2026-12-02 20:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'c3f5a7e9b1d4'
down_revision = 'b7d2e4f6a813'
branch_labels = None
depends_on = None

_ONE_EACH = "kind <> 'reply'"


def upgrade() -> None:
    with op.batch_alter_table('sdk_messages', schema=None) as batch_op:
        batch_op.drop_constraint('uq_sdk_messages_inquiry_id', type_='unique')
    op.create_index('uq_sdk_messages_inquiry_id_kind', 'sdk_messages', ['inquiry_id', 'kind'],
                    unique=True, sqlite_where=sa.text(_ONE_EACH),
                    postgresql_where=sa.text(_ONE_EACH))


def downgrade() -> None:
    op.execute("DELETE FROM sdk_messages WHERE kind = 'reply'")
    op.drop_index('uq_sdk_messages_inquiry_id_kind', table_name='sdk_messages')
    with op.batch_alter_table('sdk_messages', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_sdk_messages_inquiry_id', ['inquiry_id', 'kind'])
