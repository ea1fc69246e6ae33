"""`RedisEvents`, the `Events` backend: a command client for publishing and health, and
the shared listener for subscriptions. Channels are prefixed by the namespace."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from imgflow.backends.events import Event
from imgflow.backends.events.redis.listener import Listener

CONNECT_TIMEOUT = 5.0
COMMAND_TIMEOUT = 5.0


class RedisEvents:
    def __init__(self, url: str, *, namespace: str) -> None:
        self.url = url
        self.namespace = namespace
        self.client_name = re.sub(r"[^\w.:-]", "_", f"imgflow-events-{namespace}")
        self._client: Redis | None = None
        self._listener_client: Redis | None = None
        self._listener: Listener | None = None
        self._closed = False

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
        self._listener = Listener(self._listener_client)
        await self._listener.start()

    async def ping(self) -> None:
        """Ready means Redis answers and live updates flow (the listener is connected)."""
        await self._require_client().ping()
        if self._listener is None or not self._listener.connected:
            raise RedisConnectionError("Redis events: listener connection is down")

    async def close(self) -> None:
        self._closed = True
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        for client in (self._client, self._listener_client):
            if client is not None:
                await client.aclose()
        self._client = self._listener_client = None

    async def publish(self, channel: str, event: Event) -> None:
        """Raises when Redis is unreachable; the event is then lost, not queued."""
        await self._require_client().publish(self._key(channel), json.dumps(event))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Event]]:
        """Returns once Redis confirmed the subscription: a later publish is delivered."""
        async with self._require_listener().subscription(self._key(channel)) as events:
            yield events

    def _key(self, channel: str) -> str:
        return f"{self.namespace}:{channel}"

    def _require_client(self) -> Redis:
        if self._client is None:
            raise RuntimeError("RedisEvents is not connected (or closed)")
        return self._client

    def _require_listener(self) -> Listener:
        if self._closed or self._listener is None:
            raise RuntimeError("RedisEvents is not connected (or closed)")
        return self._listener
