"""The Alembic migrations: they build exactly the models' schema, and go down and up
again cleanly, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import imgflow.models  # noqa: F401  (registers the tables)
from imgflow import migrate


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    from tests.backends import _check_postgres, postgres_database
    from tests.integration.services import require_service

    require_service("PostgreSQL", _check_postgres)
    with postgres_database() as url:
        yield url


def schema_of(url: str) -> tuple[list[str], list[tuple[object, ...]]]:
    def read(connection: Connection) -> tuple[list[str], list[tuple[object, ...]]]:
        context = MigrationContext.configure(connection)
        return sorted(inspect(connection).get_table_names()), compare_metadata(
            context, SQLModel.metadata
        )

    async def run() -> tuple[list[str], list[tuple[object, ...]]]:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            result = await connection.run_sync(read)
        await engine.dispose()
        return result

    return asyncio.run(run())


def test_migrations_build_the_models_schema(database_url: str) -> None:
    migrate.upgrade(database_url)
    tables, differences = schema_of(database_url)
    assert tables == [
        "alembic_version",
        "jobs",
        "presets",
        "users",
        "webhook_deliveries",
        "webhooks",
    ]
    assert differences == [], "models and migrations disagree: add a revision"


def test_downgrade_to_nothing_and_up_again(database_url: str) -> None:
    migrate.upgrade(database_url)
    migrate.downgrade(database_url, "base")
    assert schema_of(database_url)[0] == ["alembic_version"]
    migrate.upgrade(database_url)
    assert schema_of(database_url)[1] == []


def test_migrate_command_is_idempotent(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGFLOW_")}
    env["IMGFLOW_DATA_DIR"] = str(tmp_path / "data")
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "imgflow.cli", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert "latest revision" in done.stdout
    assert (tmp_path / "data" / "imgflow.db").exists()
