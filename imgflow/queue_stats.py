"""Queue figures any signed-in user may read: the per-queue part of the admin's
`system_stats` (imgflow.admin), without failures by code, and nothing per user.

Any account may ask, and each answer reads up to `admin.LATENCY_SAMPLE` job rows, so
answers are kept for a few seconds (IMGFLOW_QUEUE_STATS_CACHE_SECONDS) per window: a
page polling the figures, opened by many users, costs one read per interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imgflow import admin

if TYPE_CHECKING:  # Services holds the cache below: imported for annotations only
    from imgflow.services import Services


async def queue_overview(services: Services, window_minutes: int) -> admin.SystemStats:
    """The figures for this window, at most IMGFLOW_QUEUE_STATS_CACHE_SECONDS old. The
    admin's figures whole: what a user may see of them is the GraphQL type's choice."""
    ttl = services.settings.queue_stats_cache_seconds

    async def read() -> admin.SystemStats:
        return await admin.system_stats(services, window_minutes)

    return await services.queue_overviews.get(window_minutes, ttl, read)


class RecentOverviews:
    """Overviews by window, each computed at most once per `ttl`: callers arriving
    while one is being read wait for that read rather than start another."""

    def __init__(self) -> None:
        self.entries: dict[int, Entry] = {}

    async def get(
        self, window_minutes: int, ttl: float, read: Callable[[], Awaitable[admin.SystemStats]]
    ) -> admin.SystemStats:
        now = time.monotonic()
        entry = self.entries.get(window_minutes)
        if entry is None or now - entry.started > ttl:
            self.forget_expired(now, ttl)
            task = asyncio.ensure_future(read())
            entry = self.entries[window_minutes] = Entry(now, task)
            task.add_done_callback(lambda done: self.forget_failed(window_minutes, done))
        # Shielded: a caller giving up (client gone) must not cancel the read others
        # are waiting on.
        return await asyncio.shield(entry.task)

    def forget_expired(self, now: float, ttl: float) -> None:
        """Keeps the table as small as the windows asked for within `ttl`."""
        for window, entry in list(self.entries.items()):
            if now - entry.started > ttl and entry.task.done():
                del self.entries[window]

    def forget_failed(self, window_minutes: int, task: asyncio.Task[admin.SystemStats]) -> None:
        """A failed read is not kept: the next caller tries again. (Reading the exception
        here also spares the log a "never retrieved" complaint when no caller is left.)"""
        if task.cancelled() or task.exception() is not None:
            entry = self.entries.get(window_minutes)
            if entry is not None and entry.task is task:
                del self.entries[window_minutes]


@dataclass(frozen=True)
class Entry:
    started: float
    task: asyncio.Task[admin.SystemStats]
