"""A job has outputs: variants and srcset widths, each stored as it finishes.

The outputs live on the job row as JSON (name, steps after the prefix, srcset width,
stored image) rather than in a table of their own: the row is what every event carries
and what every fenced UPDATE writes, so an output's image and the job's progress change
in one statement. Jobs from before this revision keep NULL: one `default` output, whose
image is the result columns.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 21:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outputs", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("skipped_widths", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("skipped_widths")
        batch_op.drop_column("outputs")
