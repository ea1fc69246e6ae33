"""`RabbitBroker`: one robust (self-reconnecting) connection, a confirming publisher
channel, and a channel of its own for each queue's consumer."""

from __future__ import annotations

import asyncio

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustChannel, AbstractRobustConnection

from imgflow.backends.broker import Handler
from imgflow.backends.broker.rabbitmq.consumer import RabbitConsumer
from imgflow.backends.broker.rabbitmq.messages import RETRIES_HEADER, job_message
from imgflow.backends.broker.rabbitmq.topology import (
    DELAY_HEADER,
    Exchanges,
    Topology,
    declare_topology,
    declare_work_queue,
    delay_tier,
)
from imgflow.domain import QueueName

PUBLISH_TIMEOUT_SECONDS = 5.0
"""A publish (confirm included) that takes longer fails: while the broker is away the
caller should not hang; housekeeping re-publishes QUEUED jobs."""


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
