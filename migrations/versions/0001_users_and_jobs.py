"""Users and jobs.

Revision ID: 0001
Revises: 
Create Date: 2026-11-29 08:23:58.542209
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def upgrade() -> None:

    op.create_table('users',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email')
    )
    op.create_table('jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('owner_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.Enum('AWAITING_UPLOAD', 'QUEUED', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'CANCELLED', name='jobstatus', native_enum=False, length=20), nullable=False),
    sa.Column('queue', sa.Enum('ROTATE', 'RESIZE', 'FORCE_RESIZE', 'CONVERT', name='queuename', native_enum=False, length=20), nullable=False),
    sa.Column('operations', sa.JSON(), nullable=False),
    sa.Column('source_key', sa.String(length=512), nullable=False),
    sa.Column('source_format', sa.String(length=10), nullable=True),
    sa.Column('source_width', sa.Integer(), nullable=True),
    sa.Column('source_height', sa.Integer(), nullable=True),
    sa.Column('source_frames', sa.Integer(), nullable=True),
    sa.Column('source_bytes', sa.Integer(), nullable=True),
    sa.Column('result_key', sa.String(length=512), nullable=True),
    sa.Column('result_format', sa.String(length=10), nullable=True),
    sa.Column('result_width', sa.Integer(), nullable=True),
    sa.Column('result_height', sa.Integer(), nullable=True),
    sa.Column('result_frames', sa.Integer(), nullable=True),
    sa.Column('result_bytes', sa.Integer(), nullable=True),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_message', sa.String(length=2000), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_owner_created', ['owner_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_jobs_status_updated', ['status', 'updated_at'], unique=False)

def downgrade() -> None:

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_status_updated')
        batch_op.drop_index('ix_jobs_owner_created')

    op.drop_table('jobs')
    op.drop_table('users')

