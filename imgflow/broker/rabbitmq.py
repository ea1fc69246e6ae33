"""RabbitMQ job distribution through aio-pika, on one robust (self-reconnecting) connection.

Topology for a namespace `ns`, everything durable:

- `ns.jobs`, a direct exchange. Publishers send here with routing key = the AMQP queue
  name (`ns.rotate`, ...). A named exchange rather than the default one so that a delay
  queue (retries) can dead-letter back into it by routing key, and so that a missing
  binding makes a mandatory publish fail instead of dropping the message.
- `ns.<queue>`, one quorum queue per QueueName, bound to `ns.jobs` under its own name,
  dead-lettering to `ns.dlx`.
- `ns.dlx`, a direct exchange, and `ns.dead`, a quorum queue bound to it under every
  work queue's routing key. A dead message keeps the routing key of the queue it came
  from, so re-driving it is a publish of the same body to `ns.jobs` under that key.
  Malformed messages and jobs that ran out of attempts (`DeadLetter`) end here.
- Delayed retries (`Retry`): `ns.retry`, a headers exchange, and one quorum queue per
  delay tier, `ns.retry.1s`, `ns.retry.5s`, `ns.retry.30s`, `ns.retry.120s`. Nobody
  consumes them: each has a fixed `x-message-ttl` and dead-letters expired messages to
  `ns.jobs`, where the routing key they were published with (the work queue's name)
  takes them back to their work queue. A retry is published to `ns.retry` with that
  routing key and an `imgflow-delay: <tier>` header selecting the tier queue.

  Why fixed tiers and not one queue with a per-message `expiration`: RabbitMQ expires
  messages only at the head of a queue, so a 120 s retry would hold back every 1 s
  retry behind it. In a queue where every message has the same TTL, FIFO order is
  expiry order: nothing waits longer than its tier. The cost is precision: a requested
  delay is rounded to the nearest tier on a log scale (0-2.2 s -> 1 s, ..., above
  ~60 s -> 120 s), which is fine for backoff whose jitter is random anyway. The header
  has no `x-` prefix because a headers exchange ignores `x-` headers when matching.

Queue arguments are fixed once a queue exists (a redeclare with other arguments fails
with PRECONDITION_FAILED): limits added later (delivery limit, overflow) belong in a
policy, or in new queue names.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import aio_pika
from aio_pika import DeliveryMode, ExchangeType
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from imgflow.broker import DeadLetter, Handler, Message, Retry
from imgflow.domain import QueueName

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 5.0
"""A publish (confirm included) that takes longer fails: while the broker is away the
caller should not hang; housekeeping re-publishes QUEUED jobs."""
CHANNEL_TIMEOUT_SECONDS = 5.0
"""Bound on cancel/close during stop, which otherwise wait for a reconnect."""
REDELIVERY_DELAY_SECONDS = 0.5
"""As in the memory broker: a failed message is requeued after this pause, so a
persistent fault does not spin the worker and the broker."""
QUORUM = {"x-queue-type": "quorum"}
DELAY_TIERS_SECONDS = (1, 5, 30, 120)
"""The delay queues' TTLs; a requested delay is rounded to the nearest (see above)."""
DELAY_HEADER = "imgflow-delay"
"""Selects the delay tier queue in the `ns.retry` headers exchange."""
RETRIES_HEADER = "imgflow-retries"
"""How many times this job's message has been through a delay queue (for operators, and
so that a retried message reads as `redelivered`)."""

DelayedPublish = Callable[[str, str, float, int], Awaitable[int]]
"""(routing key, job id, delay seconds, retries so far) -> the tier it is stored in."""


def delay_tier(seconds: float) -> int:
    """The tier nearest to `seconds` on a log scale: retry delays are multiplicative."""
    wanted = max(seconds, 0.001)
    return min(DELAY_TIERS_SECONDS, key=lambda tier: abs(math.log(wanted / tier)))


@dataclass(frozen=True)
class Topology:
    """The AMQP names of one namespace."""

    namespace: str

    @property
    def jobs_exchange(self) -> str:
        return f"{self.namespace}.jobs"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.namespace}.dlx"

    @property
    def dead_queue(self) -> str:
        return f"{self.namespace}.dead"

    def queue(self, queue: QueueName) -> str:
        """The AMQP queue name, which is also its routing key in both exchanges."""
        return f"{self.namespace}.{queue.value.lower()}"

    def work_queue_arguments(self) -> dict[str, Any]:
        return {**QUORUM, "x-dead-letter-exchange": self.dead_letter_exchange}

    @property
    def retry_exchange(self) -> str:
        return f"{self.namespace}.retry"

    def retry_queue(self, tier: int) -> str:
        return f"{self.namespace}.retry.{tier}s"

    def retry_queue_arguments(self, tier: int) -> dict[str, Any]:
        return {
            **QUORUM,
            "x-message-ttl": tier * 1000,
            # Default (at-most-once) dead-lettering: a message lost in the move back (the
            # node dying at that instant) leaves its job QUEUED in the database, and
            # housekeeping re-publishes it after IMGFLOW_LEASE_SECONDS. at-least-once
            # would close that window at the price of a DLX worker process per queue, a
            # part of RabbitMQ that saw several fixes after 3.10 (the version used here).
            "x-dead-letter-exchange": self.jobs_exchange,
        }


@dataclass(frozen=True)
class Exchanges:
    jobs: AbstractExchange
    retry: AbstractExchange


class RabbitBroker:
    durable = True

    def __init__(
        self, url: str, *, namespace: str, publish_timeout: float = PUBLISH_TIMEOUT_SECONDS
    ) -> None:
        self.url = url
        self.names = Topology(namespace)
        self.publish_timeout = publish_timeout
        self.connection: AbstractRobustConnection | None = None
        self.publisher: AbstractRobustChannel | None = None
        self.exchanges: Exchanges | None = None
        self.consumers: list[RabbitConsumer] = []

    async def connect(self) -> None:
        connection = await aio_pika.connect_robust(
            self.url, client_properties={"connection_name": f"imgflow {self.names.namespace}"}
        )
        try:
            # on_return_raises: without it an unroutable mandatory publish "succeeds".
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            self.exchanges = await declare_topology(channel, self.names)
            self.publisher = channel
        except BaseException:
            await connection.close()
            raise
        self.connection = connection

    async def publish(self, queue: QueueName, job_id: str) -> None:
        """Send the job id and wait for the broker's confirm; raise if it is not stored."""
        await self._send(self._exchanges().jobs, self.names.queue(queue), job_message(job_id))

    async def publish_delayed(
        self, routing_key: str, job_id: str, delay_seconds: float, retries: int
    ) -> int:
        """Store the job id in the delay tier nearest `delay_seconds`; it comes back to the
        work queue `routing_key` when that tier's TTL runs out. Returns the tier (seconds);
        raises if not stored."""
        tier = delay_tier(delay_seconds)
        headers = {DELAY_HEADER: f"{tier}s", RETRIES_HEADER: retries}
        await self._send(self._exchanges().retry, routing_key, job_message(job_id, headers))
        return tier

    async def _send(
        self, exchange: AbstractExchange, routing_key: str, message: aio_pika.Message
    ) -> None:
        async with asyncio.timeout(self.publish_timeout):
            # While the connection is being restored a publish fails at once; waiting
            # (within the timeout) lets a short outage pass unnoticed by the caller.
            await self._publisher().ready()
            await exchange.publish(message, routing_key=routing_key, mandatory=True)

    async def consume(self, queue: QueueName, concurrency: int, handler: Handler) -> RabbitConsumer:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        channel = await self._connection().channel(publisher_confirms=False)
        try:
            await channel.set_qos(prefetch_count=concurrency)
            work_queue = await declare_work_queue(channel, self.names, queue)
            consumer = RabbitConsumer(
                channel, work_queue, concurrency, handler, self.publish_delayed
            )
            await consumer.start()
        except BaseException:
            await channel.close()
            raise
        self.consumers.append(consumer)
        return consumer

    async def depth(self, queue: QueueName) -> int:
        """Messages ready in `queue` (not counting those delivered and not yet acked)."""
        # A channel of its own: a robust channel answers a passive declare of a queue it
        # knows from its cache (a stale count), and a failed one would close the channel.
        async with self._connection().channel(publisher_confirms=False) as channel:
            declared = await channel.declare_queue(
                self.names.queue(queue), passive=True, robust=False
            )
            return declared.declaration_result.message_count or 0

    async def ping(self) -> None:
        connection = self.connection
        if connection is None or connection.is_closed:
            raise ConnectionError("RabbitMQ connection is closed")
        if not connection.connected.is_set():
            raise ConnectionError("RabbitMQ connection is down; reconnecting")

    async def close(self) -> None:
        consumers, self.consumers = self.consumers, []
        await asyncio.gather(*(consumer.stop(grace_seconds=5) for consumer in consumers))
        connection, self.connection = self.connection, None
        self.publisher = self.exchanges = None
        if connection is not None:
            await connection.close()

    def _connection(self) -> AbstractRobustConnection:
        if self.connection is None:
            raise RuntimeError("RabbitBroker.connect() has not been called (or close() has)")
        return self.connection

    def _publisher(self) -> AbstractRobustChannel:
        self._connection()
        assert self.publisher is not None  # set together with the connection
        return self.publisher

    def _exchanges(self) -> Exchanges:
        self._connection()
        assert self.exchanges is not None  # set together with the connection
        return self.exchanges


def job_message(job_id: str, headers: dict[str, Any] | None = None) -> aio_pika.Message:
    """A fresh message for `job_id`. Retries build a new one rather than copying the
    delivered message: its `x-death` history would make RabbitMQ see the delay queue ->
    work queue round trip as a dead-letter cycle and drop it on the second pass."""
    return aio_pika.Message(
        json.dumps({"job_id": job_id}).encode(),
        content_type="application/json",
        delivery_mode=DeliveryMode.PERSISTENT,
        # aiormq matches a returned message to its publish by message_id: it must be
        # unique per publish, and one job may be published twice at once.
        message_id=uuid4().hex,
        correlation_id=job_id,
        headers=headers,
    )


async def declare_topology(channel: AbstractRobustChannel, names: Topology) -> Exchanges:
    """Declare exchanges, queues and bindings (idempotent)."""
    jobs = await channel.declare_exchange(names.jobs_exchange, ExchangeType.DIRECT, durable=True)
    dlx = await channel.declare_exchange(
        names.dead_letter_exchange, ExchangeType.DIRECT, durable=True
    )
    dead = await channel.declare_queue(names.dead_queue, durable=True, arguments=QUORUM)
    for queue in QueueName:
        work_queue = await declare_work_queue(channel, names, queue)
        await work_queue.bind(jobs, routing_key=work_queue.name)
        await dead.bind(dlx, routing_key=work_queue.name)
    return Exchanges(jobs, await declare_delay_queues(channel, names))


async def declare_delay_queues(channel: AbstractRobustChannel, names: Topology) -> AbstractExchange:
    """The retry exchange and its tier queues (added after the first release: new names
    only, so existing deployments just gain them); returns the exchange."""
    retry = await channel.declare_exchange(names.retry_exchange, ExchangeType.HEADERS, durable=True)
    for tier in DELAY_TIERS_SECONDS:
        tier_queue = await channel.declare_queue(
            names.retry_queue(tier), durable=True, arguments=names.retry_queue_arguments(tier)
        )
        await tier_queue.bind(retry, arguments={"x-match": "all", DELAY_HEADER: f"{tier}s"})
    return retry


async def declare_work_queue(
    channel: AbstractRobustChannel, names: Topology, queue: QueueName
) -> AbstractQueue:
    return await channel.declare_queue(
        names.queue(queue), durable=True, arguments=names.work_queue_arguments()
    )


def decode(incoming: AbstractIncomingMessage) -> Message | None:
    """The message a handler sees, or None if the body is not `{"job_id": "..."}`."""
    try:
        body = json.loads(incoming.body)
    except ValueError:  # bad JSON or bad UTF-8
        return None
    job_id = body.get("job_id") if isinstance(body, dict) else None
    if not isinstance(job_id, str) or not job_id:
        return None
    return Message(job_id, redelivered=bool(incoming.redelivered) or retries_of(incoming) > 0)


def retries_of(incoming: AbstractIncomingMessage) -> int:
    count = (incoming.headers or {}).get(RETRIES_HEADER)
    return count if isinstance(count, int) else 0


class RabbitConsumer:
    """One queue's consumer on a channel of its own, with `concurrency` handler slots."""

    def __init__(
        self,
        channel: AbstractRobustChannel,
        queue: AbstractQueue,
        concurrency: int,
        handler: Handler,
        publish_delayed: DelayedPublish,
    ) -> None:
        self.channel = channel
        self.queue = queue
        self.handler = handler
        self.publish_delayed = publish_delayed
        # Prefetch alone does not bound handlers: after a reconnect the new channel gets a
        # fresh prefetch window while handlers from the old one are still running.
        self.slots = asyncio.Semaphore(concurrency)
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = False
        self.consumer_tag: str | None = None

    async def start(self) -> None:
        self.consumer_tag = await self.queue.consume(self._on_delivery)

    async def _on_delivery(self, incoming: AbstractIncomingMessage) -> None:
        if self.stopping:
            return  # left unacked: closing the channel puts it back in the queue
        # The handler runs in a task of ours, not in aiormq's: aiormq cancels its tasks
        # when the channel closes, which would cut a handler off mid-write on every
        # reconnect. Ours finish; the ack then fails and the broker redelivers the
        # message, which the worker ignores as a duplicate.
        task = asyncio.create_task(self._handle(incoming))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _handle(self, incoming: AbstractIncomingMessage) -> None:
        async with self.slots:
            if self.stopping:
                return  # not started: left for the next consumer
            message = decode(incoming)
            if message is None:
                await self._dead_letter(incoming)
            else:
                await self._run(incoming, message)

    async def _run(self, incoming: AbstractIncomingMessage, message: Message) -> None:
        extra = {"job_id": message.job_id}
        try:
            await self.handler(message)
        except Retry as retry:
            await self._retry_later(incoming, message, retry.delay_seconds, extra)
        except DeadLetter as dead:
            log.error("message dead-lettered: %s", dead.reason, extra=extra)
            await self._settle(incoming.reject(requeue=False), extra)
        except Exception:
            log.exception("handler failed; message will be redelivered", extra=extra)
            await self._requeue(incoming, extra)
        else:
            await self._settle(incoming.ack(), extra)

    async def _retry_later(
        self,
        incoming: AbstractIncomingMessage,
        message: Message,
        delay_seconds: float,
        extra: dict[str, Any],
    ) -> None:
        # The copy is stored before the original is acked: a crash between the two
        # leaves a duplicate (a no-op for the worker), never a lost job.
        retries = retries_of(incoming) + 1
        try:
            tier = await self.publish_delayed(
                self.queue.name, message.job_id, delay_seconds, retries
            )
        except Exception:
            log.exception("could not store the delayed retry; requeueing instead", extra=extra)
            await self._requeue(incoming, extra)
            return
        log.info(
            "message will be redelivered in %d s (%.2f s asked)", tier, delay_seconds, extra=extra
        )
        await self._settle(incoming.ack(), extra)

    async def _requeue(self, incoming: AbstractIncomingMessage, extra: dict[str, Any]) -> None:
        await asyncio.sleep(REDELIVERY_DELAY_SECONDS)
        await self._settle(incoming.nack(requeue=True), extra)

    async def _dead_letter(self, incoming: AbstractIncomingMessage) -> None:
        extra = {"amqp_message_id": incoming.message_id, "body": incoming.body[:200]}
        log.error("malformed message: rejected to the dead-letter queue", extra=extra)
        await self._settle(incoming.reject(requeue=False), extra)

    @staticmethod
    async def _settle(outcome: Awaitable[None], extra: dict[str, Any]) -> None:
        # The only way an ack/nack fails is a channel that is gone, and then the broker
        # already requeued the message: nothing to do but say so.
        try:
            await outcome
        except Exception:
            log.warning(
                "could not settle message (channel closed); the broker redelivers it",
                extra=extra,
                exc_info=True,
            )

    async def stop(self, grace_seconds: float) -> None:
        if self.stopping:
            return
        self.stopping = True
        await self._cancel_consumer()
        await self._drain(grace_seconds)
        await self._close_channel()

    async def _cancel_consumer(self) -> None:
        if self.consumer_tag is None:
            return
        try:
            async with asyncio.timeout(CHANNEL_TIMEOUT_SECONDS):
                await self.queue.cancel(self.consumer_tag)
        except Exception:
            # The robust queue forgot the consumer before sending the cancel, so it will
            # not be restored; closing the channel ends any delivery still coming.
            log.warning("could not cancel consumer of %s", self.queue.name, exc_info=True)

    async def _drain(self, grace_seconds: float) -> None:
        if not self.tasks:
            return
        _, pending = await asyncio.wait(set(self.tasks), timeout=max(grace_seconds, 0))
        if pending:
            log.warning(
                "%d handler(s) of %s still running after %.1f s: cancelled, their messages"
                " go back to the queue",
                len(pending),
                self.queue.name,
                grace_seconds,
            )
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _close_channel(self) -> None:
        try:
            async with asyncio.timeout(CHANNEL_TIMEOUT_SECONDS):
                await self.channel.close()
        except Exception:
            log.warning("could not close channel of %s", self.queue.name, exc_info=True)
