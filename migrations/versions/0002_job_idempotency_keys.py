"""Job idempotency keys: one job per (owner, key).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 09:51:28.370591
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def upgrade() -> None:
    # Batch mode: SQLite cannot add a constraint in place, so the table is rebuilt
    # there; PostgreSQL gets plain ALTER TABLE statements.
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(
            'uq_jobs_owner_idempotency_key', ['owner_id', 'idempotency_key']
        )

def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint('uq_jobs_owner_idempotency_key', type_='unique')
        batch_op.drop_column('idempotency_key')
