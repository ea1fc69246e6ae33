"""In-process queues with ack/requeue semantics, for the one-process mode.

Nothing here survives a restart; the database does. On start-up, housekeeping
re-publishes every QUEUED job and reclaims PROCESSING ones whose lease ran out.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from imgflow.broker import Handler, Message
from imgflow.domain import QueueName

log = logging.getLogger(__name__)
REDELIVERY_DELAY_SECONDS = 0.5
"""A failed message waits this long before it is offered again, so a persistent fault
does not spin the CPU."""


class MemoryBroker:
    durable = False

    def __init__(self) -> None:
        self.queues: defaultdict[QueueName, asyncio.Queue[Message]] = defaultdict(asyncio.Queue)
        self.consumers: list[MemoryConsumer] = []

    async def connect(self) -> None:
        return None

    async def publish(self, queue: QueueName, job_id: str) -> None:
        self.queues[queue].put_nowait(Message(job_id))

    async def consume(self, queue: QueueName, concurrency: int, handler: Handler) -> MemoryConsumer:
        consumer = MemoryConsumer(self.queues[queue], concurrency, handler)
        self.consumers.append(consumer)
        return consumer

    def depth(self, queue: QueueName) -> int:
        return self.queues[queue].qsize()

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        await asyncio.gather(*(consumer.stop(grace_seconds=5) for consumer in self.consumers))


class MemoryConsumer:
    def __init__(self, queue: asyncio.Queue[Message], concurrency: int, handler: Handler) -> None:
        self.queue = queue
        self.handler = handler
        self.stopping = False
        self.idle: set[asyncio.Task[None]] = set()
        self.tasks = [asyncio.create_task(self._loop()) for _ in range(concurrency)]

    async def _loop(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        while not self.stopping:
            self.idle.add(task)
            try:
                message = await self.queue.get()
            finally:
                self.idle.discard(task)
            await self._deliver(message)

    async def _deliver(self, message: Message) -> None:
        try:
            await self.handler(message)
        except Exception:
            log.exception(
                "handler failed; message will be redelivered", extra={"job_id": message.job_id}
            )
            asyncio.get_running_loop().call_later(
                REDELIVERY_DELAY_SECONDS,
                self.queue.put_nowait,
                Message(message.job_id, redelivered=True),
            )

    async def stop(self, grace_seconds: float) -> None:
        self.stopping = True
        for task in list(self.idle):
            task.cancel()
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []
