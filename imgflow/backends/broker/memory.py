"""In-process queues with ack/requeue semantics, for the one-process mode.

Nothing here survives a restart; the database does. On start-up, housekeeping
re-publishes every QUEUED job and reclaims PROCESSING ones whose lease ran out.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass

from imgflow.backends.broker import DeadLetter, Handler, Message, Retry
from imgflow.domain import QueueName

log = logging.getLogger(__name__)
REDELIVERY_DELAY_SECONDS = 0.5
"""A failed message waits this long before it is offered again, so a persistent fault
does not spin the CPU."""


@dataclass(frozen=True)
class DeadMessage:
    """A message a handler gave up on, as `<namespace>.dead` would hold it."""

    queue: QueueName
    job_id: str
    reason: str


class MemoryBroker:
    durable = False

    def __init__(self) -> None:
        self.queues: defaultdict[QueueName, asyncio.Queue[Message]] = defaultdict(asyncio.Queue)
        self.consumers: list[MemoryConsumer] = []
        self.dead: list[DeadMessage] = []
        """Dead letters of this process, oldest first; gone with it, like the queues."""

    async def connect(self) -> None:
        return None

    async def publish(self, queue: QueueName, job_id: str) -> None:
        self.queues[queue].put_nowait(Message(job_id))

    async def consume(self, queue: QueueName, concurrency: int, handler: Handler) -> MemoryConsumer:
        consumer = MemoryConsumer(queue, self.queues[queue], concurrency, handler, self.dead)
        self.consumers.append(consumer)
        return consumer

    async def depth(self, queue: QueueName) -> int:
        return self.queues[queue].qsize()

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        await asyncio.gather(*(consumer.stop(grace_seconds=5) for consumer in self.consumers))


class MemoryConsumer:
    def __init__(
        self,
        name: QueueName,
        queue: asyncio.Queue[Message],
        concurrency: int,
        handler: Handler,
        dead: list[DeadMessage],
    ) -> None:
        self.name = name
        self.queue = queue
        self.handler = handler
        self.dead = dead
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
        extra = {"job_id": message.job_id}
        try:
            await self.handler(message)
        except Retry as retry:
            log.info("message will be redelivered in %.2f s", retry.delay_seconds, extra=extra)
            self._redeliver(message, retry.delay_seconds)
        except DeadLetter as dead:
            log.error("message dead-lettered: %s", dead.reason, extra=extra)
            self.dead.append(DeadMessage(self.name, message.job_id, dead.reason))
        except Exception:
            log.exception("handler failed; message will be redelivered", extra=extra)
            self._redeliver(message, REDELIVERY_DELAY_SECONDS)

    def _redeliver(self, message: Message, delay_seconds: float) -> None:
        # A timer rather than a sleeping task: the handler slot is free at once, and a
        # pending retry dies with the process like the rest of this queue (housekeeping
        # re-publishes the QUEUED job at the next start).
        asyncio.get_running_loop().call_later(
            delay_seconds, self.queue.put_nowait, Message(message.job_id, redelivered=True)
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
