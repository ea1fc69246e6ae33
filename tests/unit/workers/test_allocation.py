"""The `--concurrency auto` policy: where the slots go as the queues' work changes."""

from __future__ import annotations

from imgflow.concurrency import SlotRange, parse_queue_slots
from imgflow.domain import QueueName
from workers.allocation import QueueLoad, allocate, next_hunger

ROTATE, RESIZE, FORCE, CONVERT = (
    QueueName.ROTATE,
    QueueName.RESIZE,
    QueueName.FORCE_RESIZE,
    QueueName.CONVERT,
)
OPEN = {queue: SlotRange() for queue in QueueName}


def loads(cost: float = 0.1, **waiting: int) -> dict[QueueName, QueueLoad]:
    return {queue: QueueLoad(waiting.get(queue.value.lower(), 0), 0, cost) for queue in QueueName}


def test_a_burst_on_one_queue_takes_every_slot() -> None:
    limits = allocate(4, OPEN, loads(convert=200), {})
    assert limits[CONVERT] == 4
    assert sum(limits.values()) == 4


def test_a_queue_never_gets_more_than_its_maximum_and_the_rest_stand_by() -> None:
    ranges = parse_queue_slots("convert=0:3")
    limits = allocate(4, ranges, loads(convert=200), {})
    assert limits[CONVERT] == 3
    assert sum(limits.values()) == 4  # the fourth waits for whatever comes next


def test_idle_slots_stand_by_one_per_queue_so_new_work_starts_at_once() -> None:
    limits = allocate(4, OPEN, loads(), {})
    assert limits == dict.fromkeys(QueueName, 1)


def test_a_small_queue_with_work_is_not_starved_by_a_burst() -> None:
    limits = allocate(4, OPEN, loads(convert=200, rotate=1), {})
    assert limits[ROTATE] == 1
    assert limits[CONVERT] == 3


def test_minimums_are_given_first_to_queues_with_work() -> None:
    ranges = parse_queue_slots("rotate=2:4")
    limits = allocate(4, ranges, loads(convert=200, rotate=5), {})
    assert limits[ROTATE] >= 2
    # ... but not reserved while the queue is idle
    assert allocate(4, ranges, loads(convert=200), {})[CONVERT] == 4


def test_a_minimum_is_not_more_than_the_work() -> None:
    ranges = parse_queue_slots("rotate=3:4")
    limits = allocate(4, ranges, loads(convert=200, rotate=1), {})
    assert limits[ROTATE] == 1
    assert limits[CONVERT] == 3


def test_slots_follow_seconds_of_work_not_job_counts() -> None:
    """Ten 1-second jobs are as much work as a hundred 0.1-second ones."""
    heavy = {q: QueueLoad(0, 0, 0.1) for q in QueueName}
    heavy[CONVERT] = QueueLoad(100, 0, 0.1)
    heavy[RESIZE] = QueueLoad(10, 0, 1.0)
    limits = allocate(6, OPEN, heavy, {})
    assert limits[CONVERT] == limits[RESIZE] == 3
    cheap = {**heavy, RESIZE: QueueLoad(10, 0, 0.1)}
    assert allocate(6, OPEN, cheap, {})[CONVERT] == 5


def test_running_jobs_count_as_work() -> None:
    busy = {q: QueueLoad(0, 0, 0.1) for q in QueueName}
    busy[CONVERT] = QueueLoad(0, 3, 0.1)
    busy[ROTATE] = QueueLoad(1, 0, 0.1)
    limits = allocate(4, OPEN, busy, {})
    assert limits[CONVERT] == 3
    assert limits[ROTATE] == 1


def test_when_queues_outnumber_slots_the_hungriest_go_first() -> None:
    waiting = loads(convert=100, resize=50, rotate=1, force_resize=1)
    first = allocate(2, OPEN, waiting, {})
    assert first[CONVERT] == first[RESIZE] == 1
    hunger = next_hunger({}, waiting, first)
    assert hunger[ROTATE] == hunger[FORCE] == 1
    second = allocate(2, OPEN, waiting, hunger)
    assert second[ROTATE] == second[FORCE] == 1
    hunger = next_hunger(hunger, waiting, second)
    assert hunger[ROTATE] == hunger[FORCE] == 0
    assert hunger[CONVERT] == hunger[RESIZE] == 1


def test_queues_without_slots_in_this_process_get_none() -> None:
    ranges = {**OPEN, ROTATE: SlotRange(0, 0)}
    limits = allocate(4, ranges, loads(rotate=50), {})
    assert limits[ROTATE] == 0
    assert sum(limits.values()) == 4


def test_slots_never_exceed_the_total() -> None:
    for total in range(1, 9):
        for ranges in (OPEN, parse_queue_slots("convert=1:3,rotate=1:2,resize=0:1")):
            limits = allocate(total, ranges, loads(convert=9, rotate=9, resize=9), {})
            assert sum(limits.values()) <= total
