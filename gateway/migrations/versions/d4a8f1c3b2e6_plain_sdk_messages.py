"""sdk_messages: plain messages (no form, no answer) belong to no inquiry and carry their addresses

Revision ID: d4a8f1c3b2e6
Revises: b7e4c2a91d30
Create Date: 2026-12-02 14:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'd4a8f1c3b2e6'
down_revision = 'b7e4c2a91d30'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sdk_messages', schema=None) as batch_op:
        batch_op.alter_column('inquiry_id', existing_type=sa.String(length=36), nullable=True)
        batch_op.add_column(sa.Column('sender_address', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('recipient_address', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_sdk_messages_sender_address'), ['sender_address'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_sdk_messages_recipient_address'),
                              ['recipient_address'], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM sdk_messages WHERE inquiry_id IS NULL")
    with op.batch_alter_table('sdk_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sdk_messages_recipient_address'))
        batch_op.drop_index(batch_op.f('ix_sdk_messages_sender_address'))
        batch_op.drop_column('recipient_address')
        batch_op.drop_column('sender_address')
        batch_op.alter_column('inquiry_id', existing_type=sa.String(length=36), nullable=False)
