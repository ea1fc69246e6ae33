"""Consuming one work queue: prefetch and handler slots, and what each handler outcome
does to its delivery (ack, delayed retry, dead-letter, requeue)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustChannel

from imgflow.backends.broker import DeadLetter, Handler, Message, Retry
from imgflow.backends.broker.rabbitmq.messages import decode, retries_of

log = logging.getLogger(__name__)

CHANNEL_TIMEOUT_SECONDS = 5.0
"""Bound on cancel/close during stop, which otherwise wait for a reconnect."""
REDELIVERY_DELAY_SECONDS = 0.5
"""As in the memory broker: a failed message is requeued after this pause, so a
persistent fault does not spin the worker and the broker."""

DelayedPublish = Callable[[str, str, float, int], Awaitable[int]]
"""(routing key, job id, delay seconds, retries so far) -> the tier it is stored in."""


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
