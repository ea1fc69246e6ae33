"""Run the Alembic migrations shipped in the `migrations` package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import make_url

import migrations


def alembic_config(database_url: str) -> Config:
    directory = Path(migrations.__file__).parent
    config = Config(str(directory / "alembic.ini"))
    config.set_main_option("script_location", str(directory))
    config.attributes["url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema up to `revision`. Blocking: call it outside a running event loop."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def redacted(database_url: str) -> str:
    """The URL without its password, fit for logs and messages."""
    return make_url(database_url).render_as_string(hide_password=True)
