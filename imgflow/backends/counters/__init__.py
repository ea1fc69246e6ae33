"""Counting for per-user limits, chosen by URL: in-process, or Redis shared by every API
process of a deployment.

One primitive serves both kinds of limit: a key holds entries, each expiring at its own
time, and taking an entry is refused while `limit` live entries are there.

- Rates: `hit(key, limit, window)` adds an entry that expires `window` seconds later, so
  at most `limit` events are accepted in any `window` seconds (a sliding window: no
  double burst across a boundary, unlike fixed per-minute buckets). `remove` gives an
  event back (a login that succeeded does not count as a failed one).
- Concurrency: `acquire(key, limit)` adds an entry held until `remove` (a WebSocket, a
  running subscription).

Refusals are answers, never exceptions. A backend that cannot count (Redis unreachable)
lets the request through: see imgflow.backends.counters.redis for why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlparse

from imgflow.backends import REDIS_SCHEMES


@dataclass(frozen=True)
class Entry:
    """One accepted event, or one held place, under `key`."""

    key: str
    member: str


@dataclass(frozen=True)
class Full:
    """Refused: `limit` entries are live. `retry_after`: seconds until the oldest expires."""

    retry_after: float


class Counters(Protocol):
    async def connect(self) -> None: ...
    async def hit(self, key: str, limit: int, window_seconds: float) -> Entry | Full: ...
    async def acquire(self, key: str, limit: int) -> Entry | None: ...
    async def remove(self, entry: Entry) -> None: ...
    async def close(self) -> None: ...


def open_counters(url: str, *, namespace: str) -> Counters:
    """`memory://` (in-process) or `redis://...` (shared by every process, keys prefixed
    by `namespace`), chosen by the URL's scheme."""
    scheme = urlparse(url).scheme
    if scheme == "memory":
        from imgflow.backends.counters.memory import MemoryCounters

        return MemoryCounters()
    if scheme in REDIS_SCHEMES:
        from imgflow.backends.counters.redis import RedisCounters

        return RedisCounters(url, namespace=namespace)
    raise ValueError(f"unsupported counters URL {url!r}: use memory:// or redis://host:port/db")
