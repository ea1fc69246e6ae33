"""RedisCounters against the machine's Redis: limits shared by instances (processes),
sliding windows, leases that outlive no dead process, and failing open without Redis.

Each test uses its own namespace, so runs on the same Redis never meet.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from imgflow.backends.counters import Entry, Full
from imgflow.backends.counters.redis import RedisCounters
from tests.integration.services import require_service
from tests.integration.test_redis_events import REDIS_URL, start_redis, stop_redis

OpenLimiter = Callable[..., Awaitable[RedisCounters]]
ROOT = Path(__file__).resolve().parents[2]


def _ping_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()


@pytest.fixture
async def open_counters() -> AsyncIterator[OpenLimiter]:
    """Connected limiters sharing this test's namespace, closed afterwards; skips (or
    fails under CI) without Redis."""
    require_service("Redis", _ping_redis)
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    opened: list[RedisCounters] = []

    async def factory(url: str = REDIS_URL, lease_seconds: float = 60.0) -> RedisCounters:
        limiter = RedisCounters(url, namespace=namespace, lease_seconds=lease_seconds)
        await limiter.connect()
        opened.append(limiter)
        return limiter

    yield factory
    for limiter in opened:
        await limiter.close()


async def test_instances_share_one_limit(open_counters: OpenLimiter) -> None:
    first, second = await open_counters(), await open_counters()
    for limiter in (first, second, first):
        assert isinstance(await limiter.hit("user", 3, 60), Entry)
    for limiter in (first, second):
        refused = await limiter.hit("user", 3, 60)
        assert isinstance(refused, Full)
        assert 58 < refused.retry_after <= 60
    assert isinstance(await second.hit("someone else", 3, 60), Entry)


async def test_the_window_slides_and_refusals_do_not_count(open_counters: OpenLimiter) -> None:
    limiter = await open_counters()
    assert isinstance(await limiter.hit("user", 1, 0.5), Entry)
    for _ in range(3):
        assert isinstance(await limiter.hit("user", 1, 0.5), Full)
    await asyncio.sleep(0.6)
    assert isinstance(await limiter.hit("user", 1, 0.5), Entry)


async def test_an_event_given_back_frees_its_place(open_counters: OpenLimiter) -> None:
    first, second = await open_counters(), await open_counters()
    entry = await first.hit("login", 1, 60)
    assert isinstance(entry, Entry)
    await first.remove(entry)
    assert isinstance(await second.hit("login", 1, 60), Entry)


async def test_places_are_shared_and_held_past_the_lease_while_renewed(
    open_counters: OpenLimiter,
) -> None:
    holder, other = await open_counters(lease_seconds=0.6), await open_counters(lease_seconds=0.6)
    place = await holder.acquire("ws", 2)
    assert place is not None
    assert await other.acquire("ws", 2) is not None
    await asyncio.sleep(1.5)  # more than two leases: only renewal keeps them
    assert await other.acquire("ws", 2) is None
    await holder.remove(place)
    assert await other.acquire("ws", 2) is not None


HOLD_AND_WAIT = """
import asyncio, sys
from imgflow.backends.counters.redis import RedisCounters

async def main():
    limiter = RedisCounters(sys.argv[1], namespace=sys.argv[2], lease_seconds=1.0)
    await limiter.connect()
    assert await limiter.acquire("ws", 1) is not None
    print("held", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_a_dead_process_places_expire_with_their_lease(open_counters: OpenLimiter) -> None:
    other = await open_counters()
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_WAIT, REDIS_URL, other.namespace],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"held\n"
        os.kill(process.pid, signal.SIGKILL)  # no release, no clean shutdown
    finally:
        process.kill()
        process.wait()
    assert await other.acquire("ws", 1) is None
    killed_at = time.monotonic()
    while await other.acquire("ws", 1) is None:
        assert time.monotonic() - killed_at < 3, "the dead process still holds its place"
        await asyncio.sleep(0.1)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
async def test_without_redis_limits_let_requests_through(
    open_counters: OpenLimiter, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = await start_redis(port, tmp_path)
    try:
        limiter = await open_counters(f"redis://127.0.0.1:{port}/0")
        await limiter.hit("user", 1, 60)
        assert await limiter.acquire("ws", 1) is not None
        assert isinstance(await limiter.hit("user", 1, 60), Full)
        await stop_redis(server)
        started = time.monotonic()
        assert isinstance(await limiter.hit("user", 1, 60), Entry)
        place = await limiter.acquire("ws", 1)
        assert place is not None
        await limiter.remove(place)
        assert time.monotonic() - started < 5
        server = await start_redis(port, tmp_path)  # empty: counting starts afresh
        assert isinstance(await limiter.hit("user", 1, 60), Entry)
        assert isinstance(await limiter.hit("user", 1, 60), Full)
    finally:
        await stop_redis(server)
