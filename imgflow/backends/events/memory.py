"""In-process fan-out: every subscriber of a channel gets every event."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from imgflow.backends.events import Event


class MemoryEvents:
    def __init__(self) -> None:
        self.subscribers: defaultdict[str, set[asyncio.Queue[Event]]] = defaultdict(set)

    async def connect(self) -> None:
        return None

    async def publish(self, channel: str, event: Event) -> None:
        for queue in self.subscribers.get(channel, ()):
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self.subscribers[channel].add(queue)
        try:
            yield _drain(queue)
        finally:
            self.subscribers[channel].discard(queue)
            if not self.subscribers[channel]:
                del self.subscribers[channel]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self.subscribers.clear()


async def _drain(queue: asyncio.Queue[Event]) -> AsyncIterator[Event]:
    while True:
        yield await queue.get()
