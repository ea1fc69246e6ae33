"""Reads shared by concurrent callers and kept for a while (queueStats' figures)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedReads(Generic[K, V]):
    """Values by key, each read at most once per `ttl`: callers arriving while one is
    being read wait for that read rather than start another."""

    def __init__(self) -> None:
        self.entries: dict[K, Entry[V]] = {}

    async def get(self, key: K, ttl: float, read: Callable[[], Awaitable[V]]) -> V:
        now = time.monotonic()
        entry = self.entries.get(key)
        if entry is None or now - entry.started > ttl:
            self.forget_expired(now, ttl)
            task = asyncio.ensure_future(read())
            entry = self.entries[key] = Entry(now, task)
            task.add_done_callback(lambda done: self.forget_failed(key, done))
        # Shielded: a caller giving up (client gone) must not cancel the read others
        # are waiting on.
        return await asyncio.shield(entry.task)

    def forget_expired(self, now: float, ttl: float) -> None:
        """Keeps the table as small as the keys asked for within `ttl`."""
        for old, entry in list(self.entries.items()):
            if now - entry.started > ttl and entry.task.done():
                del self.entries[old]

    def forget_failed(self, key: K, task: asyncio.Task[V]) -> None:
        """A failed read is not kept: the next caller tries again. (Reading the exception
        here also spares the log a "never retrieved" complaint when no caller is left.)"""
        if task.cancelled() or task.exception() is not None:
            entry = self.entries.get(key)
            if entry is not None and entry.task is task:
                del self.entries[key]


@dataclass(frozen=True)
class Entry(Generic[V]):
    started: float
    task: asyncio.Task[V]
