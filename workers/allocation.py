"""Who gets the slots under `--concurrency auto`: a pure function of what the queues hold.

A process has `total` slots. Each rebalance hands them out in four passes:

1. every queue with work (waiting or running) gets its minimum, as far as its work goes;
2. every other queue with work gets one slot, so none is starved by a bigger one: when
   there are more such queues than slots, those passed over longest go first (`hunger`);
3. the rest go one by one to the queue with the most work per slot, work being its jobs
   times their measured cost (seconds per job), so two queues with the same seconds of
   work waiting finish together, whatever their job counts;
4. slots nobody's work needs stand by for queues without one, so a job that arrives
   between rebalances starts at once.

No queue gets more than its maximum, nor (in passes 1-3) more slots than it has jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from imgflow.concurrency import SlotRange
from imgflow.domain import QueueName


@dataclass(frozen=True)
class QueueLoad:
    """One queue as a rebalance sees it."""

    waiting: int
    """Jobs ready in the broker, plus those this process holds waiting for a slot."""
    running: int
    """Jobs this process is running."""
    cost_seconds: float
    """Measured seconds per job here (a moving average)."""

    @property
    def jobs(self) -> int:
        return self.waiting + self.running

    @property
    def work_seconds(self) -> float:
        return self.jobs * self.cost_seconds


def allocate(
    total: int,
    ranges: Mapping[QueueName, SlotRange],
    loads: Mapping[QueueName, QueueLoad],
    hunger: Mapping[QueueName, int],
) -> dict[QueueName, int]:
    """Slots per queue; they add up to at most `total`. `hunger`: rebalances in a row a
    queue had work and no slot (see `next_hunger`)."""
    caps = {queue: ranges[queue].cap(total) for queue in ranges}
    limits = dict.fromkeys(ranges, 0)
    busy = [q for q in ranges if caps[q] > 0 and loads[q].jobs > 0]
    busy.sort(key=lambda q: (-hunger.get(q, 0), -loads[q].work_seconds, q.value))
    free = total
    for queue in busy:  # 1: minimums
        given = min(ranges[queue].minimum, loads[queue].jobs, caps[queue], free)
        limits[queue] += given
        free -= given
    for queue in busy:  # 2: one slot each
        if free and limits[queue] == 0:
            limits[queue] = 1
            free -= 1
    while free:  # 3: by work per slot
        wanting = [q for q in busy if limits[q] < min(caps[q], loads[q].jobs)]
        if not wanting:
            break
        best = max(wanting, key=lambda q: (loads[q].work_seconds / (limits[q] + 1), q.value))
        limits[best] += 1
        free -= 1
    return stand_by(limits, caps, free)


def stand_by(
    limits: dict[QueueName, int], caps: Mapping[QueueName, int], free: int
) -> dict[QueueName, int]:
    """Pass 4: the idle slots, first one to each queue without a slot, then round."""
    while free:
        open_queues = [q for q in limits if limits[q] < caps[q]]
        if not open_queues:
            break
        queue = min(open_queues, key=lambda q: (limits[q], q.value))
        limits[queue] += 1
        free -= 1
    return limits


def next_hunger(
    hunger: Mapping[QueueName, int],
    loads: Mapping[QueueName, QueueLoad],
    limits: Mapping[QueueName, int],
) -> dict[QueueName, int]:
    """A queue with waiting jobs and no slot grows hungrier; any other starts again at 0."""
    return {
        queue: hunger.get(queue, 0) + 1 if loads[queue].waiting and not limits[queue] else 0
        for queue in limits
    }
