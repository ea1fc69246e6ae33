"""Tokens stop working when they should: expired, signed with another secret, or
naming an account that was disabled or deleted since (over HTTP and WebSocket).

On PostgreSQL the API keeps identities in memory while it hears account changes
(imgflow.identities); these tests also show it keeps them, and that a change made by any
path, here plain SQL as an operator would, reaches it without any expiry."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import jwt
import pytest
import websockets

from tests.api.test_isolation import server_secret
from tests.client import Client, GraphQLErrors
from tests.conftest import Server
from tests.e2e.test_metrics import Scrape

ME = "{ me { id } }"


async def me_code(client: Client) -> str:
    try:
        await client.execute(ME)
    except GraphQLErrors as errors:
        return ",".join(errors.codes)
    return "ok"


async def run_sql(server: Server, backend: dict[str, str], sql: str, *args: object) -> object:
    """An operator's statement straight in the database (there is no API for it); the
    first column of its first row, if it returns any."""
    url = backend.get("IMGFLOW_DATABASE_URL")
    if url is None:
        with sqlite3.connect(server.workdir / "imgflow-data" / "imgflow.db") as db:
            row = db.execute(re.sub(r"\$\d+", "?", sql), args).fetchone()
        return None if row is None else row[0]
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


def token(secret: str, user_id: str, expires_in: timedelta) -> str:
    now = datetime.now(UTC)
    return jwt.encode({"sub": user_id, "iat": now, "exp": now + expires_in}, secret, "HS256")


async def test_expired_or_foreign_tokens_are_refused(server: Server, client: Client) -> None:
    user_id = (await client.execute(ME))["me"]["id"]
    secret = server_secret(server)
    client.token = token(secret, user_id, timedelta(minutes=5))
    assert await me_code(client) == "ok"  # the control: a token made this way works
    client.token = token(secret, user_id, timedelta(seconds=-1))
    assert await me_code(client) == "UNAUTHENTICATED"
    client.token = token("another-secret-" + "y" * 40, user_id, timedelta(minutes=5))
    assert await me_code(client) == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "change",
    ["UPDATE users SET disabled = true WHERE id = $1", "DELETE FROM users WHERE id = $1"],
    ids=["disabled", "deleted"],
)
async def test_a_token_dies_with_its_account(
    server: Server, backend: dict[str, str], client: Client, change: str
) -> None:
    user_id = (await client.execute(ME))["me"]["id"]
    assert await identified_from_memory(server, client) == bool(backend)
    await run_sql(server, backend, change, user_id)
    assert await code_once_heard(client, "UNAUTHENTICATED") == "UNAUTHENTICATED"
    assert await subscribe_code(client) == "UNAUTHENTICATED (4403)"


async def test_a_role_given_in_the_database_counts_at_the_next_request(
    server: Server, backend: dict[str, str], client: Client
) -> None:
    user_id = (await client.execute(ME))["me"]["id"]
    assert await stats_code(client) == "FORBIDDEN"
    assert await identified_from_memory(server, client) == bool(backend)
    await run_sql(server, backend, "UPDATE users SET is_admin = true WHERE id = $1", user_id)
    assert await code_once_heard(client, "ok", stats_code) == "ok"


async def identified_from_memory(server: Server, client: Client) -> bool:
    """Whether the next request of an identified caller is answered from memory."""
    before = Scrape.of(server.base_url)
    assert await me_code(client) == "ok"
    return (
        Scrape.of(server.base_url).minus(before, "imgflow_identity_lookups_total", source="memory")
        == 1
    )


async def stats_code(client: Client) -> str:
    try:
        await client.execute("{ systemStats(windowMinutes: 5) { windowMinutes } }")
    except GraphQLErrors as errors:
        return ",".join(errors.codes)
    return "ok"


async def code_once_heard(
    client: Client, expected: str, ask: Callable[[Client], Awaitable[str]] = me_code
) -> str:
    """The answer once the change is heard. PostgreSQL sends its notice to the API as the
    change commits, so the very next request may still overtake it by a few
    milliseconds; a kept identity that were never revoked would stay wrong for good."""
    for _ in range(100):
        code = await ask(client)
        if code == expected:
            break
        await asyncio.sleep(0.01)
    return code


async def subscribe_code(client: Client) -> str:
    """The subscription's error code; a socket refused at `connection_init` (4403) says
    its code first in the close reason."""
    try:
        async with client.subscription("subscription { jobsUpdated { id } }") as events:
            async for _ in events:
                return "an event"
    except GraphQLErrors as errors:
        return ",".join(errors.codes)
    except websockets.ConnectionClosed as closed:
        frame = closed.rcvd
        return f"{frame.reason.partition(':')[0]} ({frame.code})" if frame else "closed"
    return "completed"
