"""Limits shared by every process of a deployment, in Redis.

A key is a sorted set: member = one entry, score = when it expires (Redis's clock, so
processes with drifting clocks agree). Taking an entry is one Lua script (drop expired
entries, count, add), atomic however many API processes race for the last place.

Held places (WebSockets, subscriptions) are leases: each expires `lease_seconds` after it
was last renewed, and this process renews all of its own every third of that. A process
that dies without releasing (kill -9, a lost host) cannot lock a user out: its places
expire within one lease. A plain counter (INCR on open, DECR on close) would keep them
forever.

When Redis cannot be reached, every limit here lets requests through (fails open) and
says so in the log, at most every `WARN_EVERY_SECONDS`. These limits protect capacity
against abuse; refusing every submission, sign-in and subscription while Redis is away
would turn a Redis outage into a full outage, when jobs otherwise keep running without
it (see the README's reliability section). The active-jobs limit does not depend on
Redis at all (it counts rows), so the costliest abuse stays bounded meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from contextlib import suppress

from redis.asyncio import Redis
from redis.exceptions import RedisError

from imgflow.backends.counters import Entry, Full

log = logging.getLogger(__name__)

# Short: a limit check sits in front of requests, and Redis answers in a millisecond
# when it is well; a hung Redis must not hold requests for long before they pass.
CONNECT_TIMEOUT = 1.0
COMMAND_TIMEOUT = 1.0
LEASE_SECONDS = 60.0
RENEW_BATCH = 500
WARN_EVERY_SECONDS = 30.0
UNREACHABLE = (RedisError, OSError, TimeoutError)

# KEYS[1] the set; ARGV: limit, lifetime in ms, new member.
# Returns -1 once added, else the milliseconds until the oldest entry expires.
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) - now
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return -1
"""

# KEYS: the sets; ARGV[1] the lease in ms, ARGV[i + 1] the member held in KEYS[i].
# XX: a place released meanwhile (or lost with a Redis restart) is not brought back.
RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + lease, ARGV[i + 1])
  redis.call('PEXPIRE', key, lease)
end
return #KEYS
"""


class RedisCounters:
    def __init__(self, url: str, *, namespace: str, lease_seconds: float = LEASE_SECONDS) -> None:
        self.url = url
        self.namespace = namespace
        self.lease_seconds = lease_seconds
        self.client_name = re.sub(r"[^\w.:-]", "_", f"imgflow-limits-{namespace}")
        # No I/O yet: the client connects on first use (the ping in `connect`).
        self._client = Redis.from_url(
            url,
            decode_responses=True,
            client_name=self.client_name,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
        )
        self._take_script = self._client.register_script(TAKE)
        self._renew_script = self._client.register_script(RENEW)
        self._held: set[Entry] = set()
        self._closed = False
        self._renewer: asyncio.Task[None] | None = None
        self._last_warning = -WARN_EVERY_SECONDS

    async def connect(self) -> None:
        """Raises if Redis is unreachable at start, like every other backend."""
        await self._client.ping()
        self._renewer = asyncio.create_task(self._renew_forever(), name="imgflow-limits-renew")

    async def close(self) -> None:
        self._closed = True
        if self._renewer is not None:
            self._renewer.cancel()
            with suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        held, self._held = list(self._held), set()
        if held:  # a clean shutdown frees its places now rather than a lease later
            pipeline = self._client.pipeline(transaction=False)
            for entry in held:
                pipeline.zrem(self._key(entry.key), entry.member)
            with suppress(*UNREACHABLE):
                await pipeline.execute()
        await self._client.aclose()

    async def hit(self, key: str, limit: int, window_seconds: float) -> Entry | Full:
        return await self._take(key, limit, window_seconds)

    async def acquire(self, key: str, limit: int) -> Entry | None:
        taken = await self._take(key, limit, self.lease_seconds)
        if isinstance(taken, Full):
            return None
        self._held.add(taken)
        return taken

    async def remove(self, entry: Entry) -> None:
        # Forgotten first: even if the ZREM below is lost (cancelled, Redis away), the
        # place is no longer renewed and expires within one lease.
        self._held.discard(entry)
        if self._closed:
            # Shutting down: close() freed every held place already, and the client is
            # gone (a subscription ending with the process lands here).
            return
        try:
            await self._client.zrem(self._key(entry.key), entry.member)
        except UNREACHABLE as exc:
            self._warn(exc)
        except RuntimeError:  # the transport closed under this call: close() ran meanwhile
            if not self._closed:
                raise

    async def _take(self, key: str, limit: int, seconds: float) -> Entry | Full:
        member = uuid.uuid4().hex
        args = [limit, max(1, round(seconds * 1000)), member]
        try:
            waited = await self._take_script(keys=[self._key(key)], args=args)
        except UNREACHABLE as exc:
            self._warn(exc)
            return Entry(key, member)  # fail open: see the module docstring
        if int(waited) >= 0:
            return Full(retry_after=int(waited) / 1000)
        return Entry(key, member)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            held = list(self._held)
            for start in range(0, len(held), RENEW_BATCH):
                batch = held[start : start + RENEW_BATCH]
                keys = [self._key(entry.key) for entry in batch]
                args = [round(self.lease_seconds * 1000), *(entry.member for entry in batch)]
                try:
                    await self._renew_script(keys=keys, args=args)
                except UNREACHABLE as exc:
                    self._warn(exc)

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_SECONDS:
            self._last_warning = now
            log.warning("limits: Redis unreachable (%r); letting requests through", exc)

    def _key(self, key: str) -> str:
        return f"{self.namespace}:limits:{key}"
