"""Redis pub/sub: one listener connection per process fans out to every local subscriber.

A Redis subscription holds a whole connection, so subscribers never get their own: one
`PubSub` is shared, a background task reads it and copies each event into the queue of
every local subscriber of that channel. Channels are reference-counted: the first local
subscriber SUBSCRIBEs, the last one leaving UNSUBSCRIBEs.

If the listener connection drops, every local subscription ends with
`EventsUnavailable` (events published meanwhile are lost, so a subscriber must re-read
the database: the row is the truth) and the task reconnects with backoff; subscribing
again works once it is back.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import re
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from imgflow.events import Event, EventsUnavailable

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
COMMAND_TIMEOUT = 5.0
ACK_TIMEOUT = 10.0
# After this long without a message the listener PINGs; a second silent interval means
# the connection is dead even if TCP has not noticed (a half-open socket).
IDLE_SECONDS = 30.0
BACKOFF_MIN = 0.1
BACKOFF_MAX = 5.0


class _Signal(enum.Enum):
    CLOSED = "closed"
    """The instance closed: the subscriber's iteration ends."""
    INTERRUPTED = "interrupted"
    """The listener connection was lost: the iteration raises EventsUnavailable."""


Item = Event | _Signal


@dataclass(eq=False)
class _Channel:
    # The latest SUBSCRIBE sent for this channel: True once Redis confirmed it, False if
    # the connection went away first.
    subscribed: asyncio.Future[bool]
    queues: set[asyncio.Queue[Item]] = field(default_factory=set)


class RedisEvents:
    def __init__(self, url: str, *, namespace: str) -> None:
        self.url = url
        self.namespace = namespace
        self.client_name = re.sub(r"[^\w.:-]", "_", f"imgflow-events-{namespace}")
        self._client: Redis | None = None
        self._listener_client: Redis | None = None
        self._pubsub: PubSub | None = None  # None while the listener is disconnected
        self._listener: asyncio.Task[None] | None = None
        self._channels: dict[str, _Channel] = {}
        # Replies to SUBSCRIBE come back in order on the one connection: one future per
        # SUBSCRIBE sent, per channel, so a late reply never confirms a newer SUBSCRIBE.
        self._acks: dict[str, deque[asyncio.Future[bool]]] = {}
        # Makes "first in / last out" decisions and the SUBSCRIBE/UNSUBSCRIBE they send
        # one step, so Redis sees the commands in the order the decisions were made.
        self._lock = asyncio.Lock()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------

    async def connect(self) -> None:
        """Open both clients and the listener connection; raises if Redis is unreachable."""
        self._client = Redis.from_url(
            self.url,
            decode_responses=True,
            client_name=self.client_name,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
        )
        # No socket_timeout: the listener blocks in reads; max_connections=1 turns a
        # second listener connection (a bug) into an error instead of a leak.
        self._listener_client = Redis.from_url(
            self.url,
            decode_responses=True,
            client_name=self.client_name,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_keepalive=True,
            max_connections=1,
        )
        self._pubsub = await self._open_pubsub()
        self._listener = asyncio.create_task(self._listen(), name="imgflow-redis-events")

    async def ping(self) -> None:
        """Ready means Redis answers and live updates flow (the listener is connected)."""
        await self._require_client().ping()
        if self._pubsub is None:
            raise RedisConnectionError("Redis events: listener connection is down")

    async def close(self) -> None:
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            with suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        self._end_subscribers(_Signal.CLOSED)
        await self._drop_pubsub()
        for client in (self._client, self._listener_client):
            if client is not None:
                await client.aclose()
        self._client = self._listener_client = None

    # -- publish / subscribe -----------------------------------------------------------

    async def publish(self, channel: str, event: Event) -> None:
        """Raises when Redis is unreachable; the event is then lost, not queued."""
        await self._require_client().publish(self._key(channel), json.dumps(event))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Event]]:
        """Returns once Redis confirmed the subscription: a later publish is delivered."""
        name = self._key(channel)
        queue: asyncio.Queue[Item] = asyncio.Queue()
        try:
            try:
                await self._join(name, queue)
            except EventsUnavailable:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                raise EventsUnavailable(f"Redis events: cannot subscribe to {name}") from exc
            yield _drain(queue)
        finally:
            await self._leave(name, queue)

    async def _join(self, name: str, queue: asyncio.Queue[Item]) -> None:
        async with self._lock:
            pubsub = self._require_listener()
            entry = self._channels.get(name)
            first = entry is None
            if entry is None:
                entry = self._channels[name] = _Channel(self._expect_ack(name))
            entry.queues.add(queue)  # before sending: if the send fails, _leave undoes it
            if first:
                await pubsub.subscribe(name)
            confirmed = entry.subscribed
        # Shielded: a subscriber cancelled while waiting must not cancel the future that
        # other subscribers of the same channel are waiting on.
        if not await asyncio.wait_for(asyncio.shield(confirmed), ACK_TIMEOUT):
            raise EventsUnavailable(f"Redis events: connection lost subscribing to {name}")

    async def _leave(self, name: str, queue: asyncio.Queue[Item]) -> None:
        async with self._lock:
            entry = self._channels.get(name)
            if entry is None or queue not in entry.queues:
                return  # never joined, or closed meanwhile
            entry.queues.discard(queue)
            if entry.queues:
                return
            del self._channels[name]
            if self._pubsub is None:
                return  # a new connection only SUBSCRIBEs channels still in use
            try:
                await self._pubsub.unsubscribe(name)
            except (RedisError, OSError) as exc:
                # The listener sees the same failure and reconnects without this channel.
                log.debug("redis events: UNSUBSCRIBE %s failed: %s", name, exc)

    def _expect_ack(self, name: str) -> asyncio.Future[bool]:
        """Called before sending SUBSCRIBE: the reply may be read before the send returns."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._acks.setdefault(name, deque()).append(future)
        return future

    # -- the listener ------------------------------------------------------------------

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
                self._dispatch(message)
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
            names = list(self._channels)
            for name in names:
                self._channels[name].subscribed = self._expect_ack(name)
            try:
                if names:
                    await pubsub.subscribe(*names)
            except (RedisError, OSError) as exc:
                log.warning("redis events: resubscribe failed (%s)", exc)
                self._fail_acks()
                await _close_pubsub(pubsub)
                return
            self._pubsub = pubsub
        log.info("redis events: listener reconnected; resubscribed %d channels", len(names))

    async def _open_pubsub(self) -> PubSub:
        if self._listener_client is None:
            raise RuntimeError("RedisEvents is not connected")
        pubsub = self._listener_client.pubsub()
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]  # unannotated in redis-py
        except BaseException:
            await _close_pubsub(pubsub)  # returns the connection to the one-connection pool
            raise
        return pubsub

    async def _lose_connection(self) -> None:
        self._end_subscribers(_Signal.INTERRUPTED)
        await self._drop_pubsub()

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with suppress(RedisError, OSError):
                await _close_pubsub(pubsub)

    # -- messages ----------------------------------------------------------------------

    def _dispatch(self, message: dict[str, Any]) -> None:
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

    def _fail_acks(self) -> None:
        """SUBSCRIBEs on a lost connection will never be confirmed: release their waiters."""
        for name in list(self._acks):
            while name in self._acks:
                self._confirm(name, ok=False)

    def _end_subscribers(self, signal: _Signal) -> None:
        """Release every waiter and end every local subscription with `signal`; channels
        are forgotten, so a reconnect SUBSCRIBEs only to what is joined afresh."""
        self._fail_acks()
        for entry in self._channels.values():
            for queue in entry.queues:
                queue.put_nowait(signal)
        self._channels.clear()

    # -- helpers -----------------------------------------------------------------------

    def _key(self, channel: str) -> str:
        return f"{self.namespace}:{channel}"

    def _require_client(self) -> Redis:
        if self._client is None:
            raise RuntimeError("RedisEvents is not connected (or closed)")
        return self._client

    def _require_listener(self) -> PubSub:
        if self._closed or self._listener_client is None:
            raise RuntimeError("RedisEvents is not connected (or closed)")
        if self._pubsub is None:
            raise EventsUnavailable("Redis events: listener connection is down")
        return self._pubsub


async def _close_pubsub(pubsub: PubSub) -> None:
    await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated in redis-py


async def _drain(queue: asyncio.Queue[Item]) -> AsyncIterator[Event]:
    while True:
        item = await queue.get()
        if item is _Signal.CLOSED:
            return
        if item is _Signal.INTERRUPTED:
            raise EventsUnavailable("Redis events: connection lost; events may be missing")
        yield item
