"""The PostgreSQL pool asks nothing of the server before lending a connection (no
pre-ping): a connection the server closed meanwhile (a restart, an operator's
pg_terminate_backend, an idle timeout) is replaced on checkout, so the next request
works instead of failing with UNAVAILABLE."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from imgflow.db import create_engine


@pytest.fixture
def postgres_url() -> Iterator[str]:
    from tests.backends import _check_postgres, postgres_database
    from tests.integration.services import require_service

    require_service("PostgreSQL", _check_postgres)
    with postgres_database() as url:
        yield url


async def terminate_all(url: str) -> int:
    """What a server restart does to every client: their backends end, their sockets
    close. Returns once no backend of the database is left."""
    admin = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        others = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        others += "AND pid <> pg_backend_pid()"
        pids = [row["pid"] for row in await admin.fetch(others)]
        ended = sum([await admin.fetchval("SELECT pg_terminate_backend($1)", p) for p in pids])
        while await admin.fetch(others):
            await asyncio.sleep(0.05)
        return int(ended)
    finally:
        await admin.close()


async def seen_closed(connections: list[Any], within: float = 10.0) -> None:
    """Until this process has read the end of each connection: a backend is gone from
    pg_stat_activity before its socket's end reaches the client, and a loaded machine
    widens that gap. A query sent in it fails (UNAVAILABLE to the client): the price of
    asking nothing before lending (imgflow/db.py). This test is about the rest."""
    deadline = asyncio.get_running_loop().time() + within
    while not all(connection.is_closed() for connection in connections):
        assert asyncio.get_running_loop().time() < deadline, "the closes never arrived"
        await asyncio.sleep(0.01)


async def test_connections_the_server_closed_are_replaced(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    query = text("SELECT pg_backend_pid()")
    try:
        async with engine.connect() as first, engine.connect() as second:
            before = {
                (await first.execute(query)).scalar_one(),
                (await second.execute(query)).scalar_one(),
            }
            pooled = [(await c.get_raw_connection()).driver_connection for c in (first, second)]
        assert engine.pool.checkedin() == 2  # type: ignore[attr-defined]
        assert await terminate_all(postgres_url) == 2
        await seen_closed(pooled)
        # Both pooled connections are dead now; each checkout must get a live one.
        async with engine.connect() as first, engine.connect() as second:
            after = {
                (await first.execute(query)).scalar_one(),
                (await second.execute(query)).scalar_one(),
            }
        assert len(after) == 2
        assert not after & before
    finally:
        await engine.dispose()
