"""sdk_messages: every inquiry's and answer's SDK message, sealed (replaces sdk_envelopes)

Rows of sdk_envelopes move over with their messageId and conversation and no content (their
messages were never stored); the SDK view then shows what the inquiry says, as before.

Revision ID: b7e4c2a91d30
Revises: 82ff686e3c2b
Create Date: 2026-12-02 10:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db

revision = 'b7e4c2a91d30'
down_revision = '82ff686e3c2b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sdk_messages',
        sa.Column('message_id', sa.String(length=36), nullable=False),
        sa.Column('inquiry_id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('conversation_id', sa.String(length=36), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=True),
        sa.Column('created_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'],
                                name=op.f('fk_sdk_messages_inquiry_id_inquiries')),
        sa.PrimaryKeyConstraint('message_id', name=op.f('pk_sdk_messages')),
        sa.UniqueConstraint('inquiry_id', 'kind', name=op.f('uq_sdk_messages_inquiry_id')),
    )
    with op.batch_alter_table('sdk_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sdk_messages_inquiry_id'), ['inquiry_id'],
                              unique=False)
    op.execute(
        "INSERT INTO sdk_messages (message_id, inquiry_id, kind, channel, conversation_id, "
        "digest, content, created_at) SELECT message_id, inquiry_id, kind, 'sdk', "
        "conversation_id, '', NULL, created_at FROM sdk_envelopes"
    )
    op.drop_table('sdk_envelopes')


def downgrade() -> None:
    op.create_table(
        'sdk_envelopes',
        sa.Column('message_id', sa.String(length=36), nullable=False),
        sa.Column('inquiry_id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('conversation_id', sa.String(length=36), nullable=False),
        sa.Column('label', sa.String(length=256), nullable=False),
        sa.Column('created_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'],
                                name=op.f('fk_sdk_envelopes_inquiry_id_inquiries')),
        sa.PrimaryKeyConstraint('message_id', name=op.f('pk_sdk_envelopes')),
        sa.UniqueConstraint('inquiry_id', 'kind', name=op.f('uq_sdk_envelopes_inquiry_id')),
    )
    op.execute(
        "INSERT INTO sdk_envelopes (message_id, inquiry_id, kind, conversation_id, label, "
        "created_at) SELECT message_id, inquiry_id, kind, conversation_id, "
        "CASE kind WHEN 'answer' THEN 'Svar på hälsoförfrågan' ELSE 'Hälsoförfrågan' END, "
        "created_at FROM sdk_messages WHERE channel = 'sdk'"
    )
    with op.batch_alter_table('sdk_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sdk_messages_inquiry_id'))
    op.drop_table('sdk_messages')
