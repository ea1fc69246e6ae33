"""Account changes announced to the API processes (PostgreSQL NOTIFY), so they can keep
identities in memory and drop them the moment an account is disabled, deleted or edited.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 01:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Channel and trigger names are imgflow.backends.user_changes' CHANNEL and TRIGGER
# (a migration keeps its own copy: it must not change when the code does).
NOTIFY = """
CREATE FUNCTION imgflow_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify('imgflow_users', '');
  ELSE
    PERFORM pg_notify('imgflow_users', OLD.id);
  END IF;
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: one process, no feed; identities are read every time
    op.execute(NOTIFY)
    op.execute(
        "CREATE TRIGGER imgflow_user_changed AFTER UPDATE OR DELETE ON users"
        " FOR EACH ROW EXECUTE FUNCTION imgflow_user_changed()"
    )
    op.execute(
        "CREATE TRIGGER imgflow_users_truncated AFTER TRUNCATE ON users"
        " FOR EACH STATEMENT EXECUTE FUNCTION imgflow_user_changed()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS imgflow_users_truncated ON users")
    op.execute("DROP TRIGGER IF EXISTS imgflow_user_changed ON users")
    op.execute("DROP FUNCTION IF EXISTS imgflow_user_changed()")
