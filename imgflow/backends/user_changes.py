"""Notices of changed accounts, for the identity cache (imgflow.identities).

PostgreSQL only: migration 0008's trigger NOTIFYs `imgflow_users` with the account's id
after every UPDATE or DELETE of a `users` row, and with '' after a TRUNCATE. The notice
is sent when the change commits, whoever made it (the API, the CLI, an operator's SQL),
to every process listening on that database. SQLite has no such feed: there is nothing
to listen to, and the cache stays off.

One dedicated connection per API process listens (not one of the pool's: a pooled
connection is handed to other work). A lost connection is reported (the cache empties
and stops keeping anything) and reopened with backoff. A connection cut without the
server's goodbye is found by a ping every `PING_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Protocol

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CHANNEL = "imgflow_users"
TRIGGER = "imgflow_user_changed"
NAME = "imgflow account changes"
"""The listener's application_name in pg_stat_activity."""
CONNECT_SECONDS = 10.0
PING_SECONDS = 15.0
BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
UNREACHABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class UserChanges(Protocol):
    async def watch(self, revoke: Callable[[str], None], set_live: Callable[[bool], None]) -> None:
        """Runs until cancelled: `revoke(user_id)` for each changed account ('' for all),
        `set_live(True)` once listening, `set_live(False)` whenever that ends."""


def open_user_changes(database_url: str) -> UserChanges | None:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    return PostgresUserChanges(url.set(drivername="postgresql").render_as_string(False))


class PostgresUserChanges:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def watch(self, revoke: Callable[[str], None], set_live: Callable[[bool], None]) -> None:
        failures = 0
        while True:
            try:
                await self.listen(revoke, set_live)
                failures = 0  # it was live: start the backoff over
            except UNREACHABLE as error:
                log.warning("account changes: not listening (%s); identities are read", error)
                failures += 1
            await asyncio.sleep(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)])

    async def listen(self, revoke: Callable[[str], None], set_live: Callable[[bool], None]) -> None:
        """Until the connection ends; raises if it cannot begin."""
        connection = await asyncpg.connect(
            self.dsn, timeout=CONNECT_SECONDS, server_settings={"application_name": NAME}
        )
        try:
            if not await connection.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = $1)", TRIGGER
            ):
                # An API started before `imgflow migrate` reached 0008: no notices come,
                # so nothing may be kept; look again later.
                log.warning("account changes: no %s trigger yet (run imgflow migrate)", TRIGGER)
                await asyncio.sleep(BACKOFF_SECONDS[-1])
                return
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(
                CHANNEL, lambda _connection, _pid, _channel, payload: revoke(str(payload))
            )
            set_live(True)
            while not lost.is_set():
                with suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), PING_SECONDS)
                if not lost.is_set():
                    await connection.execute("SELECT 1", timeout=CONNECT_SECONDS)
        finally:
            set_live(False)
            with suppress(*UNREACHABLE):
                await connection.close(timeout=1.0)
