"""Live job updates, chosen by URL: in-process fan-out, or Redis pub/sub.

`subscribe` registers before it returns, so a caller that subscribes and then reads
the current state from the database cannot miss a change made in between. A backend
that may lose events (Redis) says so by raising `EventsUnavailable`, never silently.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol
from urllib.parse import urlparse

from imgflow.backends import REDIS_SCHEMES

Event = dict[str, Any]


class EventsUnavailable(ConnectionError):
    """Live updates are interrupted (Redis unreachable): raised by `subscribe`, or by the
    iteration of a subscription that may have missed events. The database still holds
    the truth; subscribe again and re-read it."""


class Events(Protocol):
    async def connect(self) -> None: ...
    async def publish(self, channel: str, event: Event) -> None: ...
    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[Event]]: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


def job_channel(job_id: str) -> str:
    return f"job:{job_id}"


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


def open_events(url: str, *, namespace: str) -> Events:
    """`memory://` (in-process) or `redis://...` (pub/sub, channels prefixed by
    `namespace`), chosen by the URL's scheme."""
    scheme = urlparse(url).scheme
    if scheme == "memory":
        from imgflow.backends.events.memory import MemoryEvents

        return MemoryEvents()
    if scheme in REDIS_SCHEMES:
        from imgflow.backends.events.redis import RedisEvents

        return RedisEvents(url, namespace=namespace)
    raise ValueError(f"unsupported events URL {url!r}: use memory:// or redis://host:port/db")
