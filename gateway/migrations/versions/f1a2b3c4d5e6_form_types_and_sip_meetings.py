"""inquiries.form_type, the SIP leg kinds and sip_meetings (DESIGN 5.8)

Revision ID: f1a2b3c4d5e6
Revises: e2b7c4d9a1f5
Create Date: 2026-12-02 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db

revision = 'f1a2b3c4d5e6'
down_revision = 'e2b7c4d9a1f5'
branch_labels = None
depends_on = None

OLD_KINDS = (
    'submitted', 'received', 'routed', 'notified', 'opened', 'answered', 'answer_delivered',
    'registered', 'closed', 'rejected', 'rerouted', 'reminded', 'escalated', 'consent_withdrawn',
)
NEW_KINDS = OLD_KINDS + ('replied', 'held', 'cancelled', 'plan_shared')
FORM_TYPES = ('halsoforfragan', 'sip')


def _sqlite() -> bool:
    return op.get_bind().dialect.name == 'sqlite'


def _in(column: str, values: tuple[str, ...]) -> str:
    return f'{column} IN (' + ', '.join(f"'{v}'" for v in values) + ')'


def _replace_kind_check(kinds: tuple[str, ...]) -> None:
    with op.batch_alter_table('legs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_legs_legkind'), type_='check')
        batch_op.create_check_constraint('legkind', _in('kind', kinds))


def upgrade() -> None:
    _replace_kind_check(NEW_KINDS)
    # Added in place, never by recreating `inquiries` (on SQLite that would drop the table its
    # children point to); SQLite cannot add a CHECK in place, so only PostgreSQL gets it.
    op.add_column('inquiries', sa.Column('form_type', sa.String(length=40),
                                         server_default='halsoforfragan', nullable=False))
    if not _sqlite():
        op.create_check_constraint('formtype', 'inquiries', _in('form_type', FORM_TYPES))
    op.create_index('ix_inquiries_form_type', 'inquiries', ['form_type'], unique=False)
    op.create_table(
        'sip_meetings',
        sa.Column('inquiry_id', sa.String(length=36), nullable=False),
        sa.Column('starts_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('length_minutes', sa.Integer(), nullable=False),
        sa.Column('reply_due', sa.Date(), nullable=False),
        sa.Column('decision', sa.String(length=20), nullable=True),
        sa.Column('proposed_at', gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('held_on', sa.Date(), nullable=True),
        sa.Column('cancelled_on', sa.Date(), nullable=True),
        sa.Column('cancel_reason', sa.String(length=40), nullable=True),
        sa.Column('reko_attended', sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'],
                                name=op.f('fk_sip_meetings_inquiry_id_inquiries'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('inquiry_id', name=op.f('pk_sip_meetings')),
    )
    with op.batch_alter_table('sip_meetings', schema=None) as batch_op:
        batch_op.create_index('ix_sip_meetings_starts_at', ['starts_at'], unique=False)
        batch_op.create_index('ix_sip_meetings_held_on', ['held_on'], unique=False)


def downgrade() -> None:
    op.drop_table('sip_meetings')
    op.drop_index('ix_inquiries_form_type', table_name='inquiries')
    if not _sqlite():
        op.drop_constraint(op.f('ck_inquiries_formtype'), 'inquiries', type_='check')
    op.drop_column('inquiries', 'form_type')
    op.execute(sa.text("DELETE FROM legs WHERE kind IN ('replied', 'held', 'cancelled', "
                       "'plan_shared')"))
    _replace_kind_check(OLD_KINDS)
