"""Seal the free text written at closing (legs.text) and consent-withdrawal notes

Both were stored in clear (legs.detail["text"], consent_withdrawals.note as text). They move into
sealed columns (vault envelopes, contexts "legs.text:<id>" and "consent_withdrawals.note:<id>"),
sealed with the app's vault: `gateway db upgrade` hands it to Alembic (gateway.migrate). A
database that holds such text and is migrated without the vault stops with a message, changing
nothing.

Revision ID: d5a9f3c2b8e6
Revises: c4d8e2f1a7b5
Create Date: 2026-12-02 14:30:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = 'd5a9f3c2b8e6'
down_revision = 'c4d8e2f1a7b5'
branch_labels = None
depends_on = None

LEGS = sa.table('legs', sa.column('id', sa.Integer), sa.column('detail', sa.JSON),
                sa.column('text', sa.LargeBinary))


def _vault() -> Any:
    vault = context.config.attributes.get('vault')
    if vault is None:
        raise RuntimeError(
            'this database holds free text to seal: migrate it with `gateway db upgrade` '
            '(which has the vault keys)'
        )
    return vault


def upgrade() -> None:
    with op.batch_alter_table('legs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('text', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('consent_withdrawals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_note', sa.LargeBinary(), nullable=True))
    _seal_leg_texts()
    _seal_notes()
    with op.batch_alter_table('consent_withdrawals', schema=None) as batch_op:
        batch_op.drop_column('note')
        batch_op.alter_column('sealed_note', new_column_name='note')


def _seal_leg_texts() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(LEGS.c.id, LEGS.c.detail).where(LEGS.c.detail.is_not(None))
    ).all()
    for leg_id, detail in rows:
        if not isinstance(detail, dict) or 'text' not in detail:
            continue
        rest = {key: value for key, value in detail.items() if key != 'text'}
        sealed = None
        if detail['text']:
            sealed = _vault().seal(str(detail['text']).encode('utf-8'), f'legs.text:{leg_id}')
        connection.execute(
            sa.update(LEGS).where(LEGS.c.id == leg_id)
            .values(detail=rest or None, text=sealed)
        )


def _seal_notes() -> None:
    connection = op.get_bind()
    table = sa.table('consent_withdrawals', sa.column('id', sa.Integer),
                     sa.column('note', sa.Text), sa.column('sealed_note', sa.LargeBinary))
    rows = connection.execute(
        sa.select(table.c.id, table.c.note).where(table.c.note.is_not(None))
    ).all()
    for withdrawal_id, note in rows:
        sealed = _vault().seal(note.encode('utf-8'), f'consent_withdrawals.note:{withdrawal_id}')
        connection.execute(
            sa.update(table).where(table.c.id == withdrawal_id).values(sealed_note=sealed)
        )


def downgrade() -> None:
    with op.batch_alter_table('consent_withdrawals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clear_note', sa.Text(), nullable=True))
    connection = op.get_bind()
    table = sa.table('consent_withdrawals', sa.column('id', sa.Integer),
                     sa.column('note', sa.LargeBinary), sa.column('clear_note', sa.Text))
    for withdrawal_id, sealed in connection.execute(
        sa.select(table.c.id, table.c.note).where(table.c.note.is_not(None))
    ).all():
        note = _vault().open(sealed, f'consent_withdrawals.note:{withdrawal_id}').decode('utf-8')
        connection.execute(
            sa.update(table).where(table.c.id == withdrawal_id).values(clear_note=note)
        )
    for leg_id, detail, sealed in connection.execute(
        sa.select(LEGS.c.id, LEGS.c.detail, LEGS.c.text).where(LEGS.c.text.is_not(None))
    ).all():
        text = _vault().open(sealed, f'legs.text:{leg_id}').decode('utf-8')
        connection.execute(
            sa.update(LEGS).where(LEGS.c.id == leg_id)
            .values(detail={**(detail or {}), 'text': text})
        )
    with op.batch_alter_table('consent_withdrawals', schema=None) as batch_op:
        batch_op.drop_column('note')
        batch_op.alter_column('clear_note', new_column_name='note')
    with op.batch_alter_table('legs', schema=None) as batch_op:
        batch_op.drop_column('text')
