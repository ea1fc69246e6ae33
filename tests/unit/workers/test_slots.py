"""The slot pool: limits decide who goes first, the total and the caps are never passed,
and closing it sends the jobs that have not started back (their tasks are cancelled)."""

from __future__ import annotations

import asyncio

import pytest

from imgflow.domain import QueueName
from workers.slots import SlotPool

ROTATE, CONVERT = QueueName.ROTATE, QueueName.CONVERT


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Jobs:
    """Tasks that each hold a slot until told to finish."""

    def __init__(self, pool: SlotPool) -> None:
        self.pool = pool
        self.started: list[tuple[QueueName, int]] = []
        self.release: dict[int, asyncio.Event] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def submit(self, queue: QueueName, number: int) -> asyncio.Task[None]:
        self.release[number] = asyncio.Event()

        async def job() -> None:
            async with self.pool.slot(queue):
                self.started.append((queue, number))
                await self.release[number].wait()

        task = asyncio.create_task(job())
        self.tasks.append(task)
        return task

    async def finish(self) -> None:
        """Close the pool (the waiting are cancelled) and let the running jobs end."""
        self.pool.close()
        for event in self.release.values():
            event.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def test_the_total_and_the_caps_are_never_passed() -> None:
    waits: list[None] = []
    pool = SlotPool(3, {ROTATE: 1, CONVERT: 3}, {ROTATE: 1, CONVERT: 2}, lambda: waits.append(None))
    jobs = Jobs(pool)
    for number in range(3):
        jobs.submit(ROTATE, number)
    await settle()
    assert pool.running[ROTATE] == 1
    assert pool.waiting(ROTATE) == 2
    assert len(waits) == 2  # the rebalancer is asked to look each time
    for number in range(3, 8):
        jobs.submit(CONVERT, number)
    await settle()
    assert sum(pool.running.values()) == 3
    assert pool.running[CONVERT] == 2
    await jobs.finish()


async def test_a_freed_slot_goes_to_a_queue_below_its_limit_first() -> None:
    pool = SlotPool(2, {ROTATE: 2, CONVERT: 2}, {ROTATE: 0, CONVERT: 2})
    jobs = Jobs(pool)
    jobs.submit(ROTATE, 0)  # borrows a free slot: nothing else waits
    jobs.submit(ROTATE, 1)
    await settle()
    assert pool.running[ROTATE] == 2
    jobs.submit(ROTATE, 2)
    jobs.submit(CONVERT, 3)
    await settle()
    pool.set_limits({ROTATE: 1, CONVERT: 1})
    jobs.release[0].set()
    await settle()
    assert (CONVERT, 3) in jobs.started  # within its limit: before rotate's third
    assert (ROTATE, 2) not in jobs.started
    jobs.release[1].set()
    await settle()
    assert (ROTATE, 2) in jobs.started
    await jobs.finish()


async def test_slots_are_lent_rather_than_left_idle() -> None:
    pool = SlotPool(4, {ROTATE: 4, CONVERT: 4}, {ROTATE: 2, CONVERT: 2})
    jobs = Jobs(pool)
    for number in range(6):
        jobs.submit(CONVERT, number)
    await settle()
    assert pool.running[CONVERT] == 4
    await jobs.finish()


async def test_closing_cancels_the_waiting_and_lets_the_running_finish() -> None:
    pool = SlotPool(1, {CONVERT: 1}, {CONVERT: 1})
    jobs = Jobs(pool)
    running = jobs.submit(CONVERT, 0)
    waiting = jobs.submit(CONVERT, 1)
    await settle()
    pool.close()
    await settle()
    assert waiting.cancelled()
    assert not running.done()
    jobs.release[0].set()
    await running
    assert jobs.started == [(CONVERT, 0)]
    with pytest.raises(asyncio.CancelledError):
        async with pool.slot(CONVERT):
            pass  # nothing starts after close


async def test_a_waiter_cancelled_by_its_consumer_gives_its_place_up() -> None:
    pool = SlotPool(1, {CONVERT: 1}, {CONVERT: 1})
    jobs = Jobs(pool)
    jobs.submit(CONVERT, 0)
    gone = jobs.submit(CONVERT, 1)
    jobs.submit(CONVERT, 2)
    await settle()
    gone.cancel()
    await settle()
    jobs.release[0].set()
    await settle()
    assert jobs.started == [(CONVERT, 0), (CONVERT, 2)]
    assert pool.running[CONVERT] == 1
    jobs.release[2].set()
    await settle()
    assert pool.running[CONVERT] == 0
