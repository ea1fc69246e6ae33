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

Queue arguments are fixed once a queue exists (a redeclare with other arguments fails
with PRECONDITION_FAILED): limits added later (delivery limit, overflow) belong in a
policy, or in new queue names.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
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

from imgflow.broker import Handler, Message
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
        self.jobs: AbstractExchange | None = None
        self.consumers: list[RabbitConsumer] = []

    async def connect(self) -> None:
        connection = await aio_pika.connect_robust(
            self.url, client_properties={"connection_name": f"imgflow {self.names.namespace}"}
        )
        try:
            # on_return_raises: without it an unroutable mandatory publish "succeeds".
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            self.jobs = await declare_topology(channel, self.names)
            self.publisher = channel
        except BaseException:
            await connection.close()
            raise
        self.connection = connection

    async def publish(self, queue: QueueName, job_id: str) -> None:
        """Send the job id and wait for the broker's confirm; raise if it is not stored."""
        message = aio_pika.Message(
            json.dumps({"job_id": job_id}).encode(),
            content_type="application/json",
            delivery_mode=DeliveryMode.PERSISTENT,
            # aiormq matches a returned message to its publish by message_id: it must be
            # unique per publish, and one job may be published twice at once.
            message_id=uuid4().hex,
            correlation_id=job_id,
        )
        jobs = self._jobs()
        async with asyncio.timeout(self.publish_timeout):
            # While the connection is being restored a publish fails at once; waiting
            # (within the timeout) lets a short outage pass unnoticed by the caller.
            await self._publisher().ready()
            await jobs.publish(message, routing_key=self.names.queue(queue), mandatory=True)

    async def consume(self, queue: QueueName, concurrency: int, handler: Handler) -> RabbitConsumer:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        channel = await self._connection().channel(publisher_confirms=False)
        try:
            await channel.set_qos(prefetch_count=concurrency)
            work_queue = await declare_work_queue(channel, self.names, queue)
            consumer = RabbitConsumer(channel, work_queue, concurrency, handler)
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
        self.publisher = self.jobs = None
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

    def _jobs(self) -> AbstractExchange:
        self._connection()
        assert self.jobs is not None  # set together with the connection
        return self.jobs


async def declare_topology(channel: AbstractRobustChannel, names: Topology) -> AbstractExchange:
    """Declare exchanges, queues and bindings (idempotent); return the jobs exchange."""
    jobs = await channel.declare_exchange(names.jobs_exchange, ExchangeType.DIRECT, durable=True)
    dlx = await channel.declare_exchange(
        names.dead_letter_exchange, ExchangeType.DIRECT, durable=True
    )
    dead = await channel.declare_queue(names.dead_queue, durable=True, arguments=QUORUM)
    for queue in QueueName:
        work_queue = await declare_work_queue(channel, names, queue)
        await work_queue.bind(jobs, routing_key=work_queue.name)
        await dead.bind(dlx, routing_key=work_queue.name)
    return jobs


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
    return Message(job_id, redelivered=bool(incoming.redelivered))


class RabbitConsumer:
    """One queue's consumer on a channel of its own, with `concurrency` handler slots."""

    def __init__(
        self,
        channel: AbstractRobustChannel,
        queue: AbstractQueue,
        concurrency: int,
        handler: Handler,
    ) -> None:
        self.channel = channel
        self.queue = queue
        self.handler = handler
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
        except Exception:
            log.exception("handler failed; message will be redelivered", extra=extra)
            await asyncio.sleep(REDELIVERY_DELAY_SECONDS)
            await self._settle(incoming.nack(requeue=True), extra)
            return
        await self._settle(incoming.ack(), extra)

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
