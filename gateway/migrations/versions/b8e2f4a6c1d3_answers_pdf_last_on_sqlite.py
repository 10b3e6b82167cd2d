"""answers.pdf as the table's last column on SQLite, so the answer is written in place

SQLite builds a row's record whole unless a zeroblob ends it: with the PDF last, the gateway
inserts the row, makes the PDF a zeroblob of its size (never materialised) and writes the
sealed bytes into it in pieces (gateway.db.write_blob_in_place). PostgreSQL is left alone.

Revision ID: b8e2f4a6c1d3
Revises: a7d3e9c1b5f2
Create Date: 2026-12-02 18:00:00
"""

from __future__ import annotations

from alembic import op

revision = 'b8e2f4a6c1d3'
down_revision = 'a7d3e9c1b5f2'
branch_labels = None
depends_on = None

PDF_LAST = ('id', 'inquiry_id', 'pdf_digest', 'structured', 'report', 'signed_at',
            'accepted_at', 'submitted_by', 'pdf')
PDF_THIRD = ('id', 'inquiry_id', 'pdf', 'pdf_digest', 'structured', 'report', 'signed_at',
             'accepted_at', 'submitted_by')


def _order(columns: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    # Nothing refers to answers, so recreating it on SQLite drops nothing that points to it.
    with op.batch_alter_table('answers', recreate='always',
                              partial_reordering=[columns]) as batch_op:
        batch_op.alter_column('pdf', existing_nullable=True)


def upgrade() -> None:
    _order(PDF_LAST)


def downgrade() -> None:
    _order(PDF_THIRD)
