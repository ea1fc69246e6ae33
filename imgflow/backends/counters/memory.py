"""In-process limits for the one-process service: nobody else to share the counts with.

Entries live in a dict per key. A key whose entries all expired is dropped the next time
it is touched, and the whole table is swept once it grows large, so keys nobody uses
again (a login attempt for an address seen once) do not pile up.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable

from imgflow.backends.counters import Entry, Full

SWEEP_ABOVE_KEYS = 10_000
SWEEP_EVERY_SECONDS = 10.0


class MemoryCounters:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, dict[str, float]] = {}  # key -> member -> expiry
        self._next_sweep = 0.0

    async def connect(self) -> None:
        pass

    async def hit(self, key: str, limit: int, window_seconds: float) -> Entry | Full:
        return self._take(key, limit, window_seconds)

    async def acquire(self, key: str, limit: int) -> Entry | None:
        taken = self._take(key, limit, math.inf)
        return taken if isinstance(taken, Entry) else None

    async def remove(self, entry: Entry) -> None:
        entries = self._entries.get(entry.key)
        if entries is None:
            return
        entries.pop(entry.member, None)
        if not entries:
            del self._entries[entry.key]

    async def close(self) -> None:
        self._entries.clear()

    def _take(self, key: str, limit: int, seconds: float) -> Entry | Full:
        now = self._clock()
        live = {
            member: until for member, until in self._entries.get(key, {}).items() if until > now
        }
        self._entries[key] = live
        if len(live) >= limit:
            return Full(retry_after=min(live.values()) - now)
        member = uuid.uuid4().hex
        live[member] = now + seconds
        if len(self._entries) > SWEEP_ABOVE_KEYS and now >= self._next_sweep:
            self._sweep(now)
        return Entry(key, member)

    def _sweep(self, now: float) -> None:
        # Throttled: with many keys all live, sweeping on every hit would cost O(keys).
        self._next_sweep = now + SWEEP_EVERY_SECONDS
        expired = [k for k, entries in self._entries.items() if max(entries.values()) <= now]
        for key in expired:
            del self._entries[key]
