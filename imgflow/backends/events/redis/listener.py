"""The listener: a process's one Redis connection in subscribe mode, kept alive.

A background task reads the shared `PubSub` and hands every message to the local
`Subscribers`. Channels are reference-counted: the first local subscriber SUBSCRIBEs,
the last one leaving UNSUBSCRIBEs. A silent connection is PINGed; a lost one ends every
local subscription with `EventsUnavailable` and is reopened with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from imgflow.backends.events import Event, EventsUnavailable
from imgflow.backends.events.redis.fanout import Item, Signal, Subscribers, drain

log = logging.getLogger(__name__)

ACK_TIMEOUT = 10.0
# After this long without a message the listener PINGs; a second silent interval means
# the connection is dead even if TCP has not noticed (a half-open socket).
IDLE_SECONDS = 30.0
BACKOFF_MIN = 0.1
BACKOFF_MAX = 5.0


class Listener:
    """Owns the subscribe-mode connection of `client` (a one-connection pool)."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._pubsub: PubSub | None = None  # None while the listener is disconnected
        self._task: asyncio.Task[None] | None = None
        self._subscribers = Subscribers()
        # Makes "first in / last out" decisions and the SUBSCRIBE/UNSUBSCRIBE they send
        # one step, so Redis sees the commands in the order the decisions were made.
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._pubsub is not None

    async def start(self) -> None:
        """Open the connection (raises if Redis is unreachable) and start reading it."""
        self._pubsub = await self._open_pubsub()
        self._task = asyncio.create_task(self._listen(), name="imgflow-redis-events")

    async def close(self) -> None:
        """Stop reading, end every local subscription and drop the connection; the
        client itself belongs to the caller."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._subscribers.end(Signal.CLOSED)
        await self._drop_pubsub()

    # -- subscriptions -----------------------------------------------------------------

    @asynccontextmanager
    async def subscription(self, name: str) -> AsyncIterator[AsyncIterator[Event]]:
        """Events of the Redis channel `name`, from once Redis confirmed the SUBSCRIBE."""
        queue: asyncio.Queue[Item] = asyncio.Queue()
        try:
            try:
                await self._join(name, queue)
            except EventsUnavailable:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                raise EventsUnavailable(f"Redis events: cannot subscribe to {name}") from exc
            yield drain(queue)
        finally:
            await self._leave(name, queue)

    async def _join(self, name: str, queue: asyncio.Queue[Item]) -> None:
        async with self._lock:
            pubsub = self._require_pubsub()
            first, confirmed = self._subscribers.add(name, queue)
            if first:
                await pubsub.subscribe(name)
        # Shielded: a subscriber cancelled while waiting must not cancel the future that
        # other subscribers of the same channel are waiting on.
        if not await asyncio.wait_for(asyncio.shield(confirmed), ACK_TIMEOUT):
            raise EventsUnavailable(f"Redis events: connection lost subscribing to {name}")

    async def _leave(self, name: str, queue: asyncio.Queue[Item]) -> None:
        async with self._lock:
            if not self._subscribers.remove(name, queue):
                return  # others still listen, or never joined, or closed meanwhile
            if self._pubsub is None:
                return  # a new connection only SUBSCRIBEs channels still in use
            try:
                await self._pubsub.unsubscribe(name)
            except (RedisError, OSError) as exc:
                # The listener sees the same failure and reconnects without this channel.
                log.debug("redis events: UNSUBSCRIBE %s failed: %s", name, exc)

    def _require_pubsub(self) -> PubSub:
        if self._closed:
            raise RuntimeError("RedisEvents is not connected (or closed)")
        if self._pubsub is None:
            raise EventsUnavailable("Redis events: listener connection is down")
        return self._pubsub

    # -- the connection ----------------------------------------------------------------

    async def _listen(self) -> None:
        delay = BACKOFF_MIN
        while True:
            if self._pubsub is None:
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                await self._reconnect(delay)
                continue
            delay = BACKOFF_MIN
            try:
                await self._pump(self._pubsub)
            except Exception as exc:
                expected = isinstance(exc, RedisError | OSError)
                log.warning(
                    "redis events: listener connection lost (%s); reconnecting",
                    exc,
                    exc_info=not expected,
                )
                await self._lose_connection()

    async def _pump(self, pubsub: PubSub) -> None:
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=IDLE_SECONDS)
            if message is not None:
                pinged = False
                self._subscribers.dispatch(message)
            elif pinged:
                raise RedisConnectionError(f"no reply to PING in {IDLE_SECONDS}s")
            else:
                await pubsub.ping()
                pinged = True

    async def _reconnect(self, next_delay: float) -> None:
        try:
            pubsub = await self._open_pubsub()
        except (RedisError, OSError) as exc:
            log.warning("redis events: reconnect failed (%s); next try in %.1fs", exc, next_delay)
            return
        async with self._lock:
            names = self._subscribers.resubscribe()
            try:
                if names:
                    await pubsub.subscribe(*names)
            except (RedisError, OSError) as exc:
                log.warning("redis events: resubscribe failed (%s)", exc)
                self._subscribers.fail_acks()
                await _close_pubsub(pubsub)
                return
            self._pubsub = pubsub
        log.info("redis events: listener reconnected; resubscribed %d channels", len(names))

    async def _open_pubsub(self) -> PubSub:
        pubsub = self._client.pubsub()
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]  # unannotated in redis-py
        except BaseException:
            await _close_pubsub(pubsub)  # returns the connection to the one-connection pool
            raise
        return pubsub

    async def _lose_connection(self) -> None:
        self._subscribers.end(Signal.INTERRUPTED)
        await self._drop_pubsub()

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with suppress(RedisError, OSError):
                await _close_pubsub(pubsub)


async def _close_pubsub(pubsub: PubSub) -> None:
    await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated in redis-py
