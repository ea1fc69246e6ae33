"""The account-change feed on a real PostgreSQL (migrated by `imgflow migrate`): every
UPDATE, DELETE and TRUNCATE of `users` reaches the listener, whoever makes it, and a
listener whose connection the server ends says so and listens again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from imgflow.backends.user_changes import NAME, UserChanges, open_user_changes
from tests.conftest import migrate


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    from tests.backends import _check_postgres, postgres_database
    from tests.integration.services import require_service

    require_service("PostgreSQL", _check_postgres)
    with postgres_database() as url:
        migrate({"IMGFLOW_DATABASE_URL": url}, tmp_path)
        yield url


class Heard:
    def __init__(self) -> None:
        self.changes: asyncio.Queue[str] = asyncio.Queue()
        self.live: asyncio.Queue[bool] = asyncio.Queue()

    async def next_change(self) -> str:
        return await asyncio.wait_for(self.changes.get(), timeout=10)

    async def next_live(self) -> bool:
        return await asyncio.wait_for(self.live.get(), timeout=10)


@asynccontextmanager
async def listening(changes: UserChanges) -> AsyncIterator[Heard]:
    heard = Heard()
    task = asyncio.create_task(changes.watch(heard.changes.put_nowait, heard.live.put_nowait))
    try:
        assert await heard.next_live() is True
        yield heard
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def sql(url: str, statement: str, *args: object) -> None:
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await connection.execute(statement, *args)
    finally:
        await connection.close()


ADD = "INSERT INTO users (id, email, password_hash, disabled, is_admin, created_at) "
ADD += "VALUES ($1::text, $1::text || '@example.com', 'x', false, false, now())"


async def test_every_change_of_an_account_is_heard(postgres_url: str) -> None:
    changes = open_user_changes(postgres_url)
    assert changes is not None
    async with listening(changes) as heard:
        await sql(postgres_url, ADD, "a")
        await sql(postgres_url, ADD, "b")
        await sql(postgres_url, "UPDATE users SET disabled = true WHERE id = $1", "a")
        assert await heard.next_change() == "a"
        await sql(postgres_url, "DELETE FROM users WHERE id = $1", "b")
        assert await heard.next_change() == "b"
        await sql(postgres_url, "TRUNCATE users CASCADE")
        assert await heard.next_change() == ""  # every account at once
        assert heard.changes.empty()  # inserts are no change to a kept identity


async def test_a_listener_cut_off_by_the_server_says_so_and_listens_again(
    postgres_url: str,
) -> None:
    changes = open_user_changes(postgres_url)
    assert changes is not None
    async with listening(changes) as heard:
        await sql(
            postgres_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = $1",
            NAME,
        )
        assert await heard.next_live() is False
        assert await heard.next_live() is True
        await sql(postgres_url, ADD, "c")
        await sql(postgres_url, "UPDATE users SET is_admin = true WHERE id = $1", "c")
        assert await heard.next_change() == "c"


def test_sqlite_has_no_feed() -> None:
    assert open_user_changes("sqlite+aiosqlite:///imgflow.db") is None
