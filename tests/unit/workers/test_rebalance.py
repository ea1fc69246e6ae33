"""The rebalancer on the real in-process broker: depth read from the queue, jobs held in
the pool counted, costs measured here, the pool's limits and the slots gauge moved."""

from __future__ import annotations

from imgflow.backends.broker.memory import MemoryBroker
from imgflow.concurrency import parse_queue_slots
from imgflow.domain import QueueName
from imgflow.metrics import Metrics
from workers.rebalance import UNMEASURED_COST_SECONDS, JobCosts, Rebalancer
from workers.slots import SlotPool


def gauge(metrics: Metrics, queue: QueueName) -> float:
    value = metrics.registry.get_sample_value("imgflow_worker_slots", {"queue": queue.value})
    assert value is not None
    return value


async def test_slots_move_to_the_queue_with_waiting_jobs() -> None:
    broker = MemoryBroker()
    ranges = parse_queue_slots("rotate=0:1")
    pool = SlotPool(4, {q: r.cap(4) for q, r in ranges.items()}, dict.fromkeys(QueueName, 0))
    metrics = Metrics(10)
    rebalancer = Rebalancer(broker, pool, ranges, JobCosts(), metrics)

    idle = await rebalancer.rebalance()
    assert idle == dict.fromkeys(QueueName, 1)

    for number in range(20):
        await broker.publish(QueueName.CONVERT, f"job-{number}")
    await broker.publish(QueueName.ROTATE, "job-r")
    busy = await rebalancer.rebalance()
    assert busy[QueueName.CONVERT] == 3
    assert busy[QueueName.ROTATE] == 1
    assert pool.limits == busy
    assert gauge(metrics, QueueName.CONVERT) == 3


async def test_costs_weigh_the_queues() -> None:
    """Two queues with as many jobs: the one whose jobs take longer gets more slots."""
    broker = MemoryBroker()
    ranges = parse_queue_slots("")
    pool = SlotPool(6, dict.fromkeys(QueueName, 6), dict.fromkeys(QueueName, 0))
    costs = JobCosts()
    assert costs.of(QueueName.RESIZE) == UNMEASURED_COST_SECONDS
    costs.record(QueueName.RESIZE, 1.0)
    costs.record(QueueName.CONVERT, 0.2)
    for number in range(10):
        await broker.publish(QueueName.CONVERT, f"c-{number}")
        await broker.publish(QueueName.RESIZE, f"r-{number}")
    limits = await Rebalancer(broker, pool, ranges, costs, Metrics(10)).rebalance()
    assert limits[QueueName.RESIZE] == 5
    assert limits[QueueName.CONVERT] == 1


def test_job_costs_are_a_moving_average() -> None:
    costs = JobCosts()
    costs.record(QueueName.CONVERT, 1.0)
    assert costs.of(QueueName.ROTATE) == 1.0  # unmeasured: like the measured ones
    for _ in range(30):
        costs.record(QueueName.CONVERT, 0.1)
    assert 0.1 <= costs.of(QueueName.CONVERT) < 0.11
