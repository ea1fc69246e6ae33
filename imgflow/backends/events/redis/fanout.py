"""The local side of Redis events: which queues subscribe to which channel, and the
SUBSCRIBE confirmations they wait on. Plain in-memory bookkeeping; the listener feeds
it what it reads, under its lock."""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from imgflow.backends.events import Event, EventsUnavailable

log = logging.getLogger(__name__)


class Signal(enum.Enum):
    CLOSED = "closed"
    """The instance closed: the subscriber's iteration ends."""
    INTERRUPTED = "interrupted"
    """The listener connection was lost: the iteration raises EventsUnavailable."""


Item = Event | Signal


@dataclass(eq=False)
class _Channel:
    # The latest SUBSCRIBE sent for this channel: True once Redis confirmed it, False if
    # the connection went away first.
    subscribed: asyncio.Future[bool]
    queues: set[asyncio.Queue[Item]] = field(default_factory=set)


class Subscribers:
    """Local subscriber queues per Redis channel (a channel is known while it has one)."""

    def __init__(self) -> None:
        self._channels: dict[str, _Channel] = {}
        # Replies to SUBSCRIBE come back in order on the one connection: one future per
        # SUBSCRIBE sent, per channel, so a late reply never confirms a newer SUBSCRIBE.
        self._acks: dict[str, deque[asyncio.Future[bool]]] = {}

    def add(self, name: str, queue: asyncio.Queue[Item]) -> tuple[bool, asyncio.Future[bool]]:
        """Whether `queue` is the channel's first (so a SUBSCRIBE must be sent now), and
        the confirmation of the channel's latest SUBSCRIBE."""
        entry = self._channels.get(name)
        first = entry is None
        if entry is None:
            entry = self._channels[name] = _Channel(self._expect_ack(name))
        entry.queues.add(queue)  # before sending: if the send fails, `remove` undoes it
        return first, entry.subscribed

    def remove(self, name: str, queue: asyncio.Queue[Item]) -> bool:
        """Whether `queue` was the channel's last (the channel is then forgotten)."""
        entry = self._channels.get(name)
        if entry is None or queue not in entry.queues:
            return False  # never joined, or closed meanwhile
        entry.queues.discard(queue)
        if entry.queues:
            return False
        del self._channels[name]
        return True

    def resubscribe(self) -> list[str]:
        """Every channel in use, each now waiting on the SUBSCRIBE about to be sent."""
        names = list(self._channels)
        for name in names:
            self._channels[name].subscribed = self._expect_ack(name)
        return names

    def _expect_ack(self, name: str) -> asyncio.Future[bool]:
        """Called before sending SUBSCRIBE: the reply may be read before the send returns."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._acks.setdefault(name, deque()).append(future)
        return future

    def dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "message":
            self._deliver(message["channel"], message["data"])
        elif kind == "subscribe":
            self._confirm(message["channel"], ok=True)
        # unsubscribe confirmations and PING replies need nothing.

    def _deliver(self, name: str, data: str) -> None:
        entry = self._channels.get(name)
        if entry is None:
            return  # arrived after the last local subscriber left
        try:
            event = json.loads(data)
        except ValueError:
            log.warning("redis events: dropped a message that is not JSON on %s", name)
            return
        for queue in entry.queues:
            queue.put_nowait(event)

    def _confirm(self, name: str, *, ok: bool) -> None:
        pending = self._acks.get(name)
        if not pending:
            return
        future = pending.popleft()
        if not pending:
            del self._acks[name]
        if not future.done():
            future.set_result(ok)

    def fail_acks(self) -> None:
        """SUBSCRIBEs on a lost connection will never be confirmed: release their waiters."""
        for name in list(self._acks):
            while name in self._acks:
                self._confirm(name, ok=False)

    def end(self, signal: Signal) -> None:
        """Release every waiter and end every local subscription with `signal`; channels
        are forgotten, so a reconnect SUBSCRIBEs only to what is joined afresh."""
        self.fail_acks()
        for entry in self._channels.values():
            for queue in entry.queues:
                queue.put_nowait(signal)
        self._channels.clear()


async def drain(queue: asyncio.Queue[Item]) -> AsyncIterator[Event]:
    while True:
        item = await queue.get()
        if item is Signal.CLOSED:
            return
        if item is Signal.INTERRUPTED:
            raise EventsUnavailable("Redis events: connection lost; events may be missing")
        yield item
