"""Image analysis on jobs (`analyze`, `analysis`) and users' presets.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 21:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("analyze", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("analysis", sa.JSON(), nullable=True))
    op.create_table(
        "presets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_id", "name", name="uq_presets_owner_name"),
    )
    with op.batch_alter_table("presets", schema=None) as batch_op:
        batch_op.create_index("ix_presets_owner_id", ["owner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("presets", schema=None) as batch_op:
        batch_op.drop_index("ix_presets_owner_id")
    op.drop_table("presets")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("analysis")
        batch_op.drop_column("analyze")
