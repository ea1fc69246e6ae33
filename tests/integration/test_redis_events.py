"""RedisEvents against the machine's Redis: fan-out over one connection, no lost events
right after subscribe, reference-counted channels, reconnection, close.

Each test uses its own namespace, so runs (and other suites) on the same Redis never meet.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from imgflow.backends.events import Event, EventsUnavailable
from imgflow.backends.events.redis import RedisEvents

REDIS_URL = os.environ.get("IMGFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WAIT = 2.0

OpenEvents = Callable[..., Awaitable[RedisEvents]]


@pytest.fixture(scope="session")
async def admin() -> AsyncIterator[Redis]:
    """A plain client for inspecting the server; skips (or fails under CI) without Redis."""
    client = Redis.from_url(REDIS_URL, decode_responses=True, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        message = (
            f"Redis is not reachable at {REDIS_URL} ({exc}): start it (see "
            "../shared/STACK-NOTES.md) or point IMGFLOW_TEST_REDIS_URL at one"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield client
    await client.aclose()


@pytest.fixture
async def open_events(admin: Redis) -> AsyncIterator[OpenEvents]:
    """Connected RedisEvents instances in this test's namespace, closed afterwards."""
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    opened: list[RedisEvents] = []

    async def factory(namespace: str = namespace) -> RedisEvents:
        events = RedisEvents(REDIS_URL, namespace=namespace)
        await events.connect()
        opened.append(events)
        return events

    yield factory
    for events in opened:
        await events.close()


async def next_event(stream: AsyncIterator[Event]) -> Event:
    return await asyncio.wait_for(anext(stream), WAIT)


async def numsub(admin: Redis, events: RedisEvents, channel: str) -> int:
    [(_, count)] = await admin.pubsub_numsub(f"{events.namespace}:{channel}")
    return int(count)


async def listener_connections(admin: Redis, events: RedisEvents) -> list[dict[str, Any]]:
    clients = await admin.client_list(_type="pubsub")
    return [c for c in clients if c["name"] == events.client_name]


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Polls: server-side state (PUBSUB NUMSUB, a restart) has nothing to wait on."""
    for _ in range(100):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"still not true after {WAIT}s")


async def test_publish_reaches_subscriber(open_events: OpenEvents) -> None:
    events = await open_events()
    async with events.subscribe("job:1") as stream:
        await events.publish("job:2", {"n": 0})  # another channel: not delivered here
        await events.publish("job:1", {"n": 1, "status": "QUEUED"})
        assert await next_event(stream) == {"n": 1, "status": "QUEUED"}


async def test_two_subscribers_share_one_connection(open_events: OpenEvents, admin: Redis) -> None:
    events = await open_events()
    async with (
        events.subscribe("job:1") as first,
        events.subscribe("job:1") as second,
        events.subscribe("user:1") as third,
    ):
        await events.publish("job:1", {"n": 1})
        await events.publish("user:1", {"n": 2})
        assert await next_event(first) == {"n": 1}
        assert await next_event(second) == {"n": 1}
        assert await next_event(third) == {"n": 2}
        assert len(await listener_connections(admin, events)) == 1
        assert await numsub(admin, events, "job:1") == 1


async def test_events_from_another_instance_arrive(open_events: OpenEvents) -> None:
    api, worker = await open_events(), await open_events()
    elsewhere = await open_events(namespace=f"other-{uuid.uuid4().hex[:12]}")
    async with api.subscribe("job:7") as stream:
        await elsewhere.publish("job:7", {"from": "another namespace"})
        await worker.publish("job:7", {"from": "worker"})
        assert await next_event(stream) == {"from": "worker"}


async def test_publish_right_after_subscribe_is_not_lost(open_events: OpenEvents) -> None:
    # The same channel every round: each round UNSUBSCRIBEs and SUBSCRIBEs it again.
    api, worker = await open_events(), await open_events()
    for n in range(50):
        async with api.subscribe("job:race") as stream:
            await worker.publish("job:race", {"n": n})
            assert await next_event(stream) == {"n": n}


async def test_subscribers_joining_at_once_all_receive(open_events: OpenEvents) -> None:
    api, worker = await open_events(), await open_events()

    async def receive_one() -> Event:
        async with api.subscribe("job:crowd") as stream:
            ready.release()
            return await next_event(stream)

    ready = asyncio.Semaphore(0)
    tasks = [asyncio.create_task(receive_one()) for _ in range(5)]
    for _ in tasks:
        await asyncio.wait_for(ready.acquire(), WAIT)
    await worker.publish("job:crowd", {"n": 1})
    assert await asyncio.gather(*tasks) == [{"n": 1}] * 5


async def test_last_subscriber_leaving_unsubscribes(open_events: OpenEvents, admin: Redis) -> None:
    events = await open_events()

    async def subscribed(expected: int) -> bool:
        return await numsub(admin, events, "job:1") == expected

    async with events.subscribe("job:1"):
        async with events.subscribe("job:1"):
            assert await subscribed(1)
        await asyncio.sleep(0.1)
        assert await subscribed(1)
    await eventually(lambda: subscribed(0))


async def test_listener_reconnects_after_its_connection_is_killed(
    open_events: OpenEvents, admin: Redis
) -> None:
    api, worker = await open_events(), await open_events()
    async with api.subscribe("job:1") as stream:
        [before] = await listener_connections(admin, api)
        await admin.client_kill_filter(_id=before["id"])
        # Events published while the listener was away are lost: the subscription says so
        # instead of going quiet, and the subscriber re-reads the truth elsewhere.
        with pytest.raises(EventsUnavailable):
            await asyncio.wait_for(anext(stream), WAIT)
    assert await numsub(admin, api, "job:1") == 0

    async def subscribed_again() -> bool:
        try:
            async with api.subscribe("job:1") as stream:
                await worker.publish("job:1", {"n": 1})
                return bool(await asyncio.wait_for(anext(stream), WAIT) == {"n": 1})
        except EventsUnavailable:
            return False

    await eventually(subscribed_again)
    async with api.subscribe("job:1"):
        [after] = await listener_connections(admin, api)
    assert after["id"] != before["id"]
    await api.ping()


async def start_redis(port: int, workdir: Path) -> asyncio.subprocess.Process:
    """A Redis of this test's own, so stopping it disturbs nobody else."""
    process = await asyncio.create_subprocess_exec(
        *("redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir)),
        *("--save", "", "--appendonly", "no"),
        stdout=asyncio.subprocess.DEVNULL,
    )
    client = Redis(port=port)
    try:
        await eventually(lambda: ping_ok(client))
    finally:
        await client.aclose()
    return process


async def ping_ok(client: Redis) -> bool:
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False


async def stop_redis(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        await process.wait()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
async def test_outage_raises_then_recovers(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = await start_redis(port, tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    api, worker = RedisEvents(url, namespace="t"), RedisEvents(url, namespace="t")
    try:
        await api.connect()
        await worker.connect()
        async with api.subscribe("job:1") as stream:
            await stop_redis(server)
            with pytest.raises(RedisError):
                await worker.publish("job:1", {"n": 0})
            with pytest.raises(EventsUnavailable):
                await asyncio.wait_for(anext(stream), WAIT)
        await eventually(lambda: raises(api.ping()))
        with pytest.raises(EventsUnavailable):
            async with api.subscribe("job:2"):
                pass
        server = await start_redis(port, tmp_path)
        await eventually(lambda: recovers(api.ping()))  # the listener is back
        async with api.subscribe("job:1") as stream:
            await worker.publish("job:1", {"n": 1})
            assert await next_event(stream) == {"n": 1}
    finally:
        await api.close()
        await worker.close()
        await stop_redis(server)


async def raises(call: Awaitable[None]) -> bool:
    try:
        await call
    except RedisError:
        return True
    return False


async def recovers(call: Awaitable[None]) -> bool:
    return not await raises(call)


async def test_close_ends_a_waiting_subscriber(open_events: OpenEvents) -> None:
    events = await open_events()
    subscribed = asyncio.Event()

    async def consume() -> list[Event]:
        async with events.subscribe("job:1") as stream:
            subscribed.set()
            return [event async for event in stream]

    task = asyncio.create_task(consume())
    await asyncio.wait_for(subscribed.wait(), WAIT)
    await events.close()
    assert await asyncio.wait_for(task, WAIT) == []
    with pytest.raises(RuntimeError):
        async with events.subscribe("job:1"):
            pass
