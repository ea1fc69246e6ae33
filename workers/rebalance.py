"""`--concurrency auto`: measure the queues, move the slots (policy in allocation.py).

Every second, and at once (at most every REBALANCE_MIN_SECONDS) when a job has to wait
for a slot, the rebalancer reads each consumed queue's depth from the broker (RabbitMQ:
a passive declare), adds the jobs this process holds and runs, weighs them by the
seconds a job of that queue has taken here lately, and sets the pool's limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from imgflow.backends.broker import Broker
from imgflow.concurrency import SlotRange
from imgflow.domain import QueueName
from imgflow.metrics import Metrics
from workers.allocation import QueueLoad, allocate, next_hunger
from workers.slots import SlotPool

log = logging.getLogger(__name__)

REBALANCE_SECONDS = 1.0
"""How often slots follow the queues when nothing else asks."""
REBALANCE_MIN_SECONDS = 0.2
"""Least time between two rebalances: a burst of arrivals asks for one each."""
COST_SMOOTHING = 0.2
"""Weight of the newest job's time in a queue's moving average."""
UNMEASURED_COST_SECONDS = 0.2
"""A queue's cost before any of its jobs ran here (and none of any queue ran)."""


class JobCosts:
    """Seconds per job, per queue, as measured in this process (moving averages)."""

    def __init__(self) -> None:
        self.seconds: dict[QueueName, float] = {}

    def record(self, queue: QueueName, seconds: float) -> None:
        before = self.seconds.get(queue)
        self.seconds[queue] = (
            seconds if before is None else before + COST_SMOOTHING * (seconds - before)
        )

    def of(self, queue: QueueName) -> float:
        """Measured, else the mean of the queues measured: a guess, refined by the first job."""
        if queue in self.seconds:
            return self.seconds[queue]
        known = list(self.seconds.values())
        return sum(known) / len(known) if known else UNMEASURED_COST_SECONDS


class Rebalancer:
    def __init__(
        self,
        broker: Broker,
        pool: SlotPool,
        ranges: Mapping[QueueName, SlotRange],
        costs: JobCosts,
        metrics: Metrics,
    ) -> None:
        self.broker = broker
        self.pool = pool
        self.ranges = {q: r for q, r in ranges.items() if r.cap(pool.total) > 0}
        self.costs = costs
        self.metrics = metrics
        self.hunger: dict[QueueName, int] = {}
        self.wanted = asyncio.Event()
        self.depths: dict[QueueName, int] = dict.fromkeys(self.ranges, 0)

    def request(self) -> None:
        """Rebalance soon (a job is waiting for a slot)."""
        self.wanted.set()

    async def run_forever(self) -> None:
        while True:
            try:
                await self.rebalance()
            except Exception:
                # The slots stay where they are (jobs keep running); try again next time.
                log.exception("could not rebalance the slots")
            await asyncio.sleep(REBALANCE_MIN_SECONDS)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REBALANCE_SECONDS - REBALANCE_MIN_SECONDS):
                    await self.wanted.wait()
            self.wanted.clear()

    async def rebalance(self) -> dict[QueueName, int]:
        await self.read_depths()
        loads = {
            queue: QueueLoad(
                waiting=self.depths[queue] + self.pool.waiting(queue),
                running=self.pool.running[queue],
                cost_seconds=self.costs.of(queue),
            )
            for queue in self.ranges
        }
        limits = allocate(self.pool.total, self.ranges, loads, self.hunger)
        self.hunger = next_hunger(self.hunger, loads, limits)
        if limits != self.pool.limits:
            log.debug("slots moved", extra={"slots": {q.value: n for q, n in limits.items()}})
            self.pool.set_limits(limits)
            for queue, count in limits.items():
                self.metrics.worker_slots(queue, count)
        return limits

    async def read_depths(self) -> None:
        """The broker's ready counts; on failure (broker away) the last ones stand."""
        for queue in self.ranges:
            try:
                self.depths[queue] = await self.broker.depth(queue)
            except Exception as error:
                log.debug("could not read the depth of %s: %r", queue.value, error)
