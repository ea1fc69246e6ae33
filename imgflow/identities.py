"""Who a token names, kept in memory and revoked the moment the account changes.

Every request and every WebSocket operation asks who its caller is; reading the user row
each time was 7-11% of the API's event loop. Here the answer is kept, but only while a
feed of account changes is live (imgflow.backends.user_changes: PostgreSQL's
LISTEN/NOTIFY, fired by a trigger on every UPDATE, DELETE or TRUNCATE of `users`, however
it was made: API, CLI or plain SQL). An entry never expires on a timer: it is dropped
when its account changes, and everything is dropped when the feed is lost. Without a
feed (SQLite), or while it is down, every call reads the row as before.

A read that began before a change and ends after its notice must not put the old row
back: each read remembers the revocation count it started under and stores nothing if
that count moved meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress

from imgflow.backends.user_changes import UserChanges
from imgflow.metrics import Metrics
from imgflow.models import User

MAX_ENTRIES = 10_000
"""About 10 MB at most; the oldest entry makes room."""


class Identities:
    def __init__(
        self,
        changes: UserChanges | None,
        metrics: Metrics | None = None,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.changes = changes
        self.metrics = metrics
        self.max_entries = max_entries
        self.users: dict[str, User] = {}
        self.revocations = 0
        self.live = False
        self.watching: asyncio.Task[None] | None = None

    async def user(self, user_id: str, read: Callable[[], Awaitable[User | None]]) -> User | None:
        """The account `user_id`, from memory when a live feed vouches for it."""
        self.start_watching()
        cached = self.users.get(user_id) if self.live else None
        if cached is not None:
            self.count("memory")
            return cached
        started_under = self.revocations
        user = await read()
        self.count("database")
        if (
            user is not None
            and not user.disabled
            and self.live
            and started_under == self.revocations
        ):
            self.keep(user)
        return user

    def count(self, source: str) -> None:
        if self.metrics is not None:
            self.metrics.identity_lookup(source)

    def keep(self, user: User) -> None:
        if len(self.users) >= self.max_entries:
            del self.users[next(iter(self.users))]
        self.users[user.id] = user

    def revoke(self, user_id: str) -> None:
        """The account changed: its entry goes, and reads in flight keep nothing."""
        self.revocations += 1
        if user_id:
            self.users.pop(user_id, None)
        else:  # the whole table changed (TRUNCATE)
            self.users.clear()

    def set_live(self, live: bool) -> None:
        """The feed (re)started or was lost: what was kept may have missed a change."""
        self.revocations += 1
        self.users.clear()
        self.live = live
        if self.metrics is not None:
            self.metrics.identity_feed_live.set(int(live))

    def start_watching(self) -> None:
        """Lazily, on the first caller: workers and cron never ask, so never listen."""
        if self.changes is None or self.watching is not None:
            return
        self.watching = asyncio.create_task(
            self.changes.watch(self.revoke, self.set_live), name="identity revocations"
        )

    async def close(self) -> None:
        if self.watching is not None:
            self.watching.cancel()
            with suppress(asyncio.CancelledError):
                await self.watching
        self.set_live(False)
