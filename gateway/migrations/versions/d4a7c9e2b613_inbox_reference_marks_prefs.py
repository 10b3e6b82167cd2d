"""The REKO's inbox: inquiries.reference (backfilled), reference_counters, inquiry_marks
(REKO-status), inquiry_name_tokens (blind index of names), users' inbox choices

Existing inquiries get references in the order they were received, numbered per Swedish
calendar year; the counters continue from there. Name tokens of existing inquiries need the
vault to open their content: `gateway inquiries index-names` writes them (see README).

Revision ID: d4a7c9e2b613
Revises: c3d9e1f2a7b4
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

import gateway.db
from forms.dates import local_date

revision = 'd4a7c9e2b613'
down_revision = 'c3d9e1f2a7b4'
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    op.create_table(
        'reference_counters',
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('last', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('year', name=op.f('pk_reference_counters')),
    )
    op.create_table(
        'inquiry_marks',
        sa.Column('inquiry_id', sa.String(length=36), nullable=False),
        sa.Column('care_unit_id', sa.Integer(), nullable=False),
        sa.Column('mark', sa.Enum('KONTAKTAD', 'AKTIV', 'UPPFOLJNING', 'AVSLUTAD',
                                  name='markkind', native_enum=False, create_constraint=True,
                                  length=40), nullable=False),
        sa.Column('set_by', sa.String(length=200), nullable=False),
        sa.Column('set_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['care_unit_id'], ['care_units.id'],
                                name=op.f('fk_inquiry_marks_care_unit_id_care_units')),
        sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], ondelete='CASCADE',
                                name=op.f('fk_inquiry_marks_inquiry_id_inquiries')),
        sa.PrimaryKeyConstraint('inquiry_id', name=op.f('pk_inquiry_marks')),
    )
    op.create_table(
        'inquiry_name_tokens',
        sa.Column('inquiry_id', sa.String(length=36), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], ondelete='CASCADE',
                                name=op.f('fk_inquiry_name_tokens_inquiry_id_inquiries')),
        sa.PrimaryKeyConstraint('inquiry_id', 'token_hash', name=op.f('pk_inquiry_name_tokens')),
    )
    with op.batch_alter_table('inquiry_name_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inquiry_name_tokens_token_hash'), ['token_hash'],
                              unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inbox_scope', sa.String(length=31), nullable=True))
        batch_op.add_column(sa.Column('show_personal', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    # Added in place, never by recreating `inquiries` (on SQLite that would drop the table
    # its children point to): NOT NULL with a default the backfill overwrites, a unique index.
    op.add_column('inquiries', sa.Column('reference', sa.String(length=20), nullable=False,
                                         server_default=''))
    _backfill_references(op.get_bind())
    op.create_index('ix_inquiries_reference', 'inquiries', ['reference'], unique=True)
    if op.get_bind().dialect.name != 'sqlite':  # SQLite changes a default only by recreating
        op.alter_column('inquiries', 'reference', server_default=None)


def _backfill_references(bind: sa.Connection) -> None:
    """Number the existing inquiries per Swedish year in the order they were received."""
    inquiries = sa.table('inquiries', sa.column('id', sa.String),
                         sa.column('created_at', gateway.db.UTCDateTime(timezone=True)),
                         sa.column('reference', sa.String))
    counters = sa.table('reference_counters', sa.column('year', sa.Integer),
                        sa.column('last', sa.Integer))
    rows = bind.execute(sa.select(inquiries.c.id, inquiries.c.created_at)
                        .order_by(inquiries.c.created_at, inquiries.c.id)).all()
    last: dict[int, int] = {}
    updates: list[dict[str, str]] = []
    for inquiry_id, created_at in rows:
        year = local_date(created_at.replace(tzinfo=created_at.tzinfo or dt.UTC)).year
        last[year] = last.get(year, 0) + 1
        updates.append({"b_id": inquiry_id, "b_reference": f"HF-{year}-{last[year]:06d}"})
    statement = (sa.update(inquiries).where(inquiries.c.id == sa.bindparam('b_id'))
                 .values(reference=sa.bindparam('b_reference')))
    for start in range(0, len(updates), BATCH):
        bind.execute(statement, updates[start:start + BATCH])
    if last:
        bind.execute(sa.insert(counters), [{"year": y, "last": n} for y, n in last.items()])


def downgrade() -> None:
    op.drop_index('ix_inquiries_reference', table_name='inquiries')
    op.drop_column('inquiries', 'reference')
    op.drop_column('users', 'show_personal')
    op.drop_column('users', 'inbox_scope')
    with op.batch_alter_table('inquiry_name_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inquiry_name_tokens_token_hash'))
    op.drop_table('inquiry_name_tokens')
    op.drop_table('inquiry_marks')
    op.drop_table('reference_counters')
