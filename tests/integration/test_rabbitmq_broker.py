"""RabbitBroker against the machine's RabbitMQ (IMGFLOW_TEST_AMQP_URL overrides the URL).

Each test has its own namespace and deletes its queues and exchanges afterwards. The
recovery test works in a vhost of its own, so that closing "all" connections there does
not cut the connections of anything else using this RabbitMQ.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote, unquote, urlsplit, urlunsplit
from uuid import uuid4

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aio_pika.exceptions import DeliveryError

from imgflow.backends.broker import DeadLetter, Message, Retry
from imgflow.backends.broker.rabbitmq import DELAY_TIERS_SECONDS, RabbitBroker, Topology
from imgflow.backends.broker.rabbitmq.messages import RETRIES_HEADER
from imgflow.domain import QueueName
from tests.integration.services import require_service, tcp_check

AMQP_URL = os.environ.get("IMGFLOW_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


class Inbox:
    """A handler that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[Message] = asyncio.Queue()

    async def __call__(self, message: Message) -> None:
        self.messages.put_nowait(message)

    async def next(self, within: float = 5.0) -> Message:
        return await asyncio.wait_for(self.messages.get(), within)


@pytest.fixture(scope="session")
def amqp_url() -> str:
    require_service("RabbitMQ", tcp_check(AMQP_URL, default_port=5672))
    return AMQP_URL


@pytest.fixture
def names() -> Topology:
    return Topology(f"test-{uuid4().hex[:8]}")


@pytest.fixture
async def admin(amqp_url: str) -> AsyncIterator[AbstractChannel]:
    """A plain channel of the test's own, to inspect and clean up."""
    connection = await aio_pika.connect(amqp_url)
    try:
        yield await connection.channel()
    finally:
        await connection.close()


@pytest.fixture
async def broker(
    amqp_url: str, names: Topology, admin: AbstractChannel
) -> AsyncIterator[RabbitBroker]:
    broker = RabbitBroker(amqp_url, namespace=names.namespace)
    try:
        await broker.connect()
        yield broker
    finally:
        await broker.close()
        await delete_topology(admin, names)


async def delete_topology(channel: AbstractChannel, names: Topology) -> None:
    for queue in [*(names.queue(q) for q in QueueName), names.dead_queue, *retry_queues(names)]:
        await channel.queue_delete(queue)
    for exchange in (names.jobs_exchange, names.dead_letter_exchange, names.retry_exchange):
        await channel.exchange_delete(exchange)


def retry_queues(names: Topology) -> list[str]:
    return [names.retry_queue(tier) for tier in DELAY_TIERS_SECONDS]


async def rabbitmqctl(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, f"rabbitmqctl {' '.join(args)}:\n{output.decode()}"
    return output.decode()


def require_rabbitmqctl() -> None:
    require_service("rabbitmqctl", lambda: shutil.which("rabbitmqctl") is not None)


def vhost_of(url: str) -> str:
    path = urlsplit(url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def with_vhost(url: str, vhost: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(vhost, safe="")))


async def get_all(
    channel: AbstractChannel, queue: str, count: int
) -> list[AbstractIncomingMessage]:
    """`count` messages from `queue` (acked), waiting up to 5 s for them to arrive."""
    source = await channel.get_queue(queue)
    found: list[AbstractIncomingMessage] = []
    deadline = time.monotonic() + 5
    while len(found) < count and time.monotonic() < deadline:
        message = await source.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
        else:
            found.append(message)
    return found


async def test_publish_then_consume_delivers_the_job_id(broker: RabbitBroker) -> None:
    await broker.publish(QueueName.ROTATE, "job-1")
    await broker.publish(QueueName.ROTATE, "job-2")
    assert await broker.depth(QueueName.ROTATE) == 2
    inbox = Inbox()
    await broker.consume(QueueName.ROTATE, 1, inbox)
    assert await inbox.next() == Message("job-1", redelivered=False)
    assert await inbox.next() == Message("job-2", redelivered=False)
    assert await broker.depth(QueueName.ROTATE) == 0


async def test_messages_are_persistent_json(
    broker: RabbitBroker, admin: AbstractChannel, names: Topology
) -> None:
    await broker.publish(QueueName.CONVERT, "job-json")
    [message] = await get_all(admin, names.queue(QueueName.CONVERT), 1)
    assert json.loads(message.body) == {"job_id": "job-json"}
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.routing_key == names.queue(QueueName.CONVERT)


async def test_an_unroutable_publish_raises(
    broker: RabbitBroker, admin: AbstractChannel, names: Topology
) -> None:
    queue = await admin.get_queue(names.queue(QueueName.RESIZE))
    await queue.unbind(names.jobs_exchange, names.queue(QueueName.RESIZE))
    with pytest.raises(DeliveryError):
        await broker.publish(QueueName.RESIZE, "nowhere-to-go")


async def test_concurrency_is_respected(broker: RabbitBroker) -> None:
    active = peak = 0
    done = Inbox()

    async def slow(message: Message) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            await asyncio.sleep(0.3)
        finally:
            active -= 1
        await done(message)

    job_ids = [f"slow-{n}" for n in range(6)]
    for job_id in job_ids:
        await broker.publish(QueueName.RESIZE, job_id)
    await broker.consume(QueueName.RESIZE, 2, slow)
    handled = [(await done.next()).job_id for _ in job_ids]
    assert sorted(handled) == sorted(job_ids)
    assert peak == 2


async def test_a_failed_handler_gets_the_message_again_marked_redelivered(
    broker: RabbitBroker, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[Message] = []
    inbox = Inbox()

    async def flaky(message: Message) -> None:
        attempts.append(message)
        if len(attempts) == 1:
            raise RuntimeError("transient")
        await inbox(message)

    await broker.publish(QueueName.ROTATE, "flaky")
    await broker.consume(QueueName.ROTATE, 1, flaky)
    assert await inbox.next() == Message("flaky", redelivered=True)
    assert attempts == [Message("flaky", redelivered=False), Message("flaky", redelivered=True)]
    failures = [r for r in caplog.records if "handler failed" in r.getMessage()]
    assert [getattr(r, "job_id", None) for r in failures] == ["flaky"]


async def test_a_malformed_message_goes_to_the_dead_letter_queue(
    broker: RabbitBroker, admin: AbstractChannel, names: Topology
) -> None:
    routing_key = names.queue(QueueName.CONVERT)
    jobs = await admin.get_exchange(names.jobs_exchange)
    for body in (b"not json", b'{"id": "no job_id key"}'):
        await jobs.publish(aio_pika.Message(body), routing_key=routing_key)
    await broker.publish(QueueName.CONVERT, "good")
    inbox = Inbox()
    await broker.consume(QueueName.CONVERT, 1, inbox)

    assert (await inbox.next()).job_id == "good"  # the consumer carries on
    dead = await get_all(admin, names.dead_queue, 2)
    assert sorted(m.body for m in dead) == [b"not json", b'{"id": "no job_id key"}']
    assert {m.routing_key for m in dead} == {routing_key}  # re-drivable to its queue
    assert inbox.messages.empty()


async def test_messages_survive_while_no_consumer_runs(
    broker: RabbitBroker, amqp_url: str, names: Topology
) -> None:
    inbox = Inbox()
    consumer = await broker.consume(QueueName.FORCE_RESIZE, 1, inbox)
    await consumer.stop(grace_seconds=1)
    await broker.publish(QueueName.FORCE_RESIZE, "waiting")
    await broker.close()  # not only the consumer: the whole process goes away

    later = RabbitBroker(amqp_url, namespace=names.namespace)
    await later.connect()
    try:
        assert await later.depth(QueueName.FORCE_RESIZE) == 1
        await later.consume(QueueName.FORCE_RESIZE, 1, inbox)
        assert await inbox.next() == Message("waiting", redelivered=False)
    finally:
        await later.close()


async def test_stop_waits_for_the_handler_in_flight(broker: RabbitBroker) -> None:
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow(message: Message) -> None:
        started.set()
        await asyncio.sleep(0.5)
        finished.set()

    await broker.publish(QueueName.ROTATE, "in-flight")
    consumer = await broker.consume(QueueName.ROTATE, 1, slow)
    await asyncio.wait_for(started.wait(), 5)
    await consumer.stop(grace_seconds=5)
    assert finished.is_set()
    assert await broker.depth(QueueName.ROTATE) == 0  # acked, not returned


async def test_stop_past_its_grace_cancels_the_handler_and_returns_the_message(
    broker: RabbitBroker,
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def stuck(message: Message) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await broker.publish(QueueName.ROTATE, "stuck")
    consumer = await broker.consume(QueueName.ROTATE, 1, stuck)
    await asyncio.wait_for(started.wait(), 5)
    began = time.monotonic()
    await consumer.stop(grace_seconds=0.2)
    assert time.monotonic() - began < 3
    assert cancelled.is_set()

    inbox = Inbox()
    await broker.consume(QueueName.ROTATE, 1, inbox)
    assert await inbox.next() == Message("stuck", redelivered=True)


async def test_queues_are_durable_quorum_queues_that_dead_letter(
    broker: RabbitBroker, amqp_url: str, names: Topology
) -> None:
    require_rabbitmqctl()
    listing = await rabbitmqctl(
        "list_queues", "-q", "-p", vhost_of(amqp_url), "--formatter", "json",
        "name", "type", "durable", "arguments",
    )  # fmt: skip
    ours = {
        row["name"]: row
        for row in json.loads(listing)
        if row["name"].startswith(f"{names.namespace}.")
    }
    work = {names.queue(q) for q in QueueName}
    assert set(ours) == work | {names.dead_queue} | set(retry_queues(names))
    assert {(row["type"], row["durable"]) for row in ours.values()} == {("quorum", True)}
    for queue in work:
        arguments = {key: value for key, _, value in ours[queue]["arguments"]}
        assert arguments["x-dead-letter-exchange"] == names.dead_letter_exchange
    for tier in DELAY_TIERS_SECONDS:
        arguments = {key: value for key, _, value in ours[names.retry_queue(tier)]["arguments"]}
        assert arguments["x-message-ttl"] == tier * 1000
        assert arguments["x-dead-letter-exchange"] == names.jobs_exchange


async def test_recovers_after_the_broker_closes_its_connections(amqp_url: str) -> None:
    require_rabbitmqctl()
    vhost = f"imgflow-test-{uuid4().hex[:8]}"
    await rabbitmqctl("add_vhost", vhost)
    try:
        user = unquote(urlsplit(amqp_url).username or "guest")
        await rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        broker = RabbitBroker(with_vhost(amqp_url, vhost), namespace="test")
        await broker.connect()
        try:
            await deliver_across_a_forced_disconnect(broker, vhost)
        finally:
            await broker.close()
    finally:
        await rabbitmqctl("delete_vhost", vhost)  # takes its queues and exchanges along


async def deliver_across_a_forced_disconnect(broker: RabbitBroker, vhost: str) -> None:
    inbox = Inbox()
    await broker.consume(QueueName.CONVERT, 1, inbox)
    await broker.publish(QueueName.CONVERT, "before")
    assert (await inbox.next()).job_id == "before"

    await rabbitmqctl("close_all_connections", "--vhost", vhost, "test")
    await eventually(lambda: ping_fails(broker), within=5)

    deadline = time.monotonic() + 15  # aio-pika reconnects after ~5 s
    while True:
        try:
            await broker.publish(QueueName.CONVERT, "after")
            break
        except Exception:  # the contract: publish raises when the message is not stored
            if time.monotonic() > deadline:
                raise
    assert (await inbox.next(within=10)).job_id == "after"
    await broker.ping()


async def ping_fails(broker: RabbitBroker) -> bool:
    try:
        await broker.ping()
    except ConnectionError:
        return True
    return False


async def eventually(condition: Callable[[], Awaitable[bool]], within: float) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


class Settles:
    """A handler that raises the given outcomes in turn, then records deliveries."""

    def __init__(self, *outcomes: Exception) -> None:
        self.outcomes = list(outcomes)
        self.deliveries: asyncio.Queue[tuple[float, Message]] = asyncio.Queue()

    async def __call__(self, message: Message) -> None:
        self.deliveries.put_nowait((time.monotonic(), message))
        if self.outcomes:
            raise self.outcomes.pop(0)

    async def next(self, within: float = 5.0) -> tuple[float, Message]:
        return await asyncio.wait_for(self.deliveries.get(), within)


async def test_retry_comes_back_through_the_delay_queue(
    broker: RabbitBroker, admin: AbstractChannel, names: Topology
) -> None:
    handler = Settles(Retry(0.2), Retry(0.2))
    await broker.publish(QueueName.ROTATE, "retried")
    await broker.consume(QueueName.ROTATE, 1, handler)
    first, original = await handler.next()
    second, again = await handler.next()
    third, _ = await handler.next()
    assert original == Message("retried", redelivered=False)
    assert again == Message("retried", redelivered=True)
    for gap in (second - first, third - second):
        assert 0.8 <= gap < 4.0, gap  # the 1 s tier, with room for a busy machine
    assert await broker.depth(QueueName.ROTATE) == 0
    assert await queue_depth(admin, names.dead_queue) == 0


async def test_retried_message_counts_its_passes_and_keeps_its_routing_key(
    broker: RabbitBroker, admin: AbstractChannel, names: Topology
) -> None:
    await broker.publish_delayed(names.queue(QueueName.RESIZE), "counted", 0.5, retries=2)
    [message] = await get_all(admin, names.queue(QueueName.RESIZE), 1)
    assert json.loads(message.body) == {"job_id": "counted"}
    assert (message.headers or {})[RETRIES_HEADER] == 2
    assert message.routing_key == names.queue(QueueName.RESIZE)


async def test_a_long_delay_does_not_hold_back_a_short_one(broker: RabbitBroker) -> None:
    inbox = Inbox()
    began = time.monotonic()
    await broker.publish_delayed(broker.names.queue(QueueName.CONVERT), "slow", 30, retries=1)
    await broker.publish_delayed(broker.names.queue(QueueName.CONVERT), "fast", 0.5, retries=1)
    await broker.consume(QueueName.CONVERT, 1, inbox)
    assert (await inbox.next(within=5)).job_id == "fast"
    assert time.monotonic() - began < 5


async def test_dead_letter_lands_in_the_dead_queue(
    broker: RabbitBroker, admin: AbstractChannel, names: Topology
) -> None:
    handler = Settles(DeadLetter("gave up after 3 attempts"))
    await broker.publish(QueueName.FORCE_RESIZE, "given-up")
    await broker.publish(QueueName.FORCE_RESIZE, "fine")
    await broker.consume(QueueName.FORCE_RESIZE, 1, handler)
    assert (await handler.next())[1].job_id == "given-up"
    assert (await handler.next())[1].job_id == "fine"  # the consumer carries on
    [dead] = await get_all(admin, names.dead_queue, 1)
    assert json.loads(dead.body) == {"job_id": "given-up"}
    assert dead.routing_key == names.queue(QueueName.FORCE_RESIZE)  # re-drivable
    assert handler.deliveries.empty()


async def queue_depth(channel: AbstractChannel, name: str) -> int:
    declared = await channel.declare_queue(name, passive=True)
    return declared.declaration_result.message_count or 0
