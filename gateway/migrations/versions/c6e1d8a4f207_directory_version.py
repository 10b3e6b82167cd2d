"""directory_version: a token every change to the tables routing reads replaces (a trigger
per table, on both databases), so each process may keep the routing data until it changes

Revision ID: c6e1d8a4f207
Revises: c6e1f3a8b2d4
Create Date: 2026-12-02 21:00:00

SQLite drops a table's triggers when a migration rebuilds the table (batch_alter_table's
copy): a later migration that rebuilds one of TABLES must create its triggers again
(`create_triggers`); tests/test_directory_cache.py checks every table at head.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = 'c6e1d8a4f207'
down_revision = 'c6e1f3a8b2d4'
branch_labels = None
depends_on = None

# The tables gateway.directory.cache copies from.
TABLES = ('organisations', 'functional_addresses', 'care_units', 'coordinators',
          'sender_units', 'assignments', 'absences')
OPERATIONS = ('INSERT', 'UPDATE', 'DELETE')
FUNCTION = 'directory_version_bump'

_PG_FUNCTION = f"""
CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE directory_version SET token = replace(gen_random_uuid()::text, '-', '') WHERE id = 1;
    RETURN NULL;
END
$$
"""


def create_triggers(table: str) -> None:
    """Make `table`'s triggers that replace the directory's version token."""
    if op.get_bind().dialect.name == 'postgresql':
        # Once per statement (TRUNCATE included): a change of many rows is one new token.
        op.execute(f'CREATE TRIGGER {table}_directory_version '
                   f'AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} '
                   f'FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()')
        return
    for operation in OPERATIONS:
        op.execute(f'CREATE TRIGGER {table}_{operation.lower()}_directory_version '
                   f'AFTER {operation} ON {table} BEGIN '
                   'UPDATE directory_version SET token = lower(hex(randomblob(16))) WHERE id = 1; '
                   'END')


def upgrade() -> None:
    version = op.create_table(
        'directory_version',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('token', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_directory_version')),
    )
    # Random from the start: two databases never share a token.
    op.bulk_insert(version, [{'id': 1, 'token': uuid.uuid4().hex}])
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_PG_FUNCTION)
    for table in TABLES:
        create_triggers(table)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for table in TABLES:
        if postgresql:
            op.execute(f'DROP TRIGGER IF EXISTS {table}_directory_version ON {table}')
            continue
        for operation in OPERATIONS:
            op.execute(f'DROP TRIGGER IF EXISTS {table}_{operation.lower()}_directory_version')
    if postgresql:
        op.execute(f'DROP FUNCTION IF EXISTS {FUNCTION}()')
    op.drop_table('directory_version')
