"""The in-process broker's settlement rules: Retry, DeadLetter, and any other failure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from imgflow.backends.broker import DeadLetter, Message, Retry
from imgflow.backends.broker.memory import DeadMessage, MemoryBroker
from imgflow.domain import QueueName


@pytest.fixture
async def broker() -> AsyncIterator[MemoryBroker]:
    broker = MemoryBroker()
    yield broker
    await broker.close()


class Recorder:
    """A handler that records each delivery with its time, failing as told."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.deliveries: list[tuple[float, Message]] = []
        self.changed = asyncio.Event()

    async def __call__(self, message: Message) -> None:
        self.deliveries.append((time.monotonic(), message))
        self.changed.set()
        if self.failures:
            raise self.failures.pop(0)

    async def wait_for(self, count: int, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while len(self.deliveries) < count:
                self.changed.clear()
                await self.changed.wait()


async def test_retry_redelivers_after_about_the_delay(broker: MemoryBroker) -> None:
    handler = Recorder(Retry(0.3))
    await broker.consume(QueueName.ROTATE, 1, handler)
    await broker.publish(QueueName.ROTATE, "job-r")
    await handler.wait_for(2)
    (first, original), (second, again) = handler.deliveries
    assert original == Message("job-r", redelivered=False)
    assert again == Message("job-r", redelivered=True)
    assert 0.25 <= second - first < 2.0
    assert broker.dead == []


async def test_a_retry_does_not_hold_a_handler_slot(broker: MemoryBroker) -> None:
    handler = Recorder(Retry(30))
    await broker.consume(QueueName.RESIZE, 1, handler)
    await broker.publish(QueueName.RESIZE, "waits")
    await broker.publish(QueueName.RESIZE, "goes-on")
    await handler.wait_for(2)
    assert [m.job_id for _, m in handler.deliveries] == ["waits", "goes-on"]


async def test_dead_letter_lands_in_the_dead_list_and_is_not_redelivered(
    broker: MemoryBroker,
) -> None:
    handler = Recorder(DeadLetter("gave up after 3 attempts"))
    await broker.consume(QueueName.CONVERT, 1, handler)
    await broker.publish(QueueName.CONVERT, "job-d")
    await handler.wait_for(1)
    await asyncio.sleep(0.8)  # longer than any redelivery pause
    assert len(handler.deliveries) == 1
    assert broker.dead == [DeadMessage(QueueName.CONVERT, "job-d", "gave up after 3 attempts")]


async def test_any_other_failure_is_redelivered_as_before(broker: MemoryBroker) -> None:
    handler = Recorder(RuntimeError("unclassified"))
    await broker.consume(QueueName.FORCE_RESIZE, 1, handler)
    await broker.publish(QueueName.FORCE_RESIZE, "job-x")
    await handler.wait_for(2)
    assert handler.deliveries[1][1] == Message("job-x", redelivered=True)
    assert broker.dead == []
