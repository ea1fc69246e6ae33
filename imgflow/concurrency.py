"""How many jobs a worker process runs at once: the words of the settings.

Either fixed counts per queue (`convert=3,rotate=1`), or `auto`: the process has a total
number of slots and each queue a range (`convert=1:3,rotate=0:2`), and the worker moves
slots between queues as their waiting work changes (see workers/allocation.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from imgflow.domain import QueueName

AUTO: Literal["auto"] = "auto"
DEFAULT_CONCURRENCY = {
    QueueName.ROTATE: 1,
    QueueName.RESIZE: 1,
    QueueName.FORCE_RESIZE: 1,
    QueueName.CONVERT: 2,
}

Concurrency = dict[QueueName, int] | Literal["auto"]


@dataclass(frozen=True)
class SlotRange:
    """Under `auto`: the slots one queue is given while it has work, at least `minimum`
    (if the work is there), at most `maximum` (None: up to the process's total)."""

    minimum: int = 0
    maximum: int | None = None

    def cap(self, total: int) -> int:
        return total if self.maximum is None else min(self.maximum, total)


def queue_name(text: str) -> QueueName:
    return QueueName(text.strip().upper().replace("-", "_"))


def parse_concurrency(text: str) -> Concurrency:
    """`auto`, or `convert=3,rotate=1` -> {CONVERT: 3, ROTATE: 1, others: default}."""
    if text.strip().lower() == AUTO:
        return AUTO
    result = dict(DEFAULT_CONCURRENCY)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, count = item.partition("=")
        try:
            queue = queue_name(name)
            value = int(count)
        except ValueError:
            raise ValueError(f"bad concurrency item {item!r}: expected queue=count") from None
        if not sep or value < 0:
            raise ValueError(f"bad concurrency item {item!r}: expected queue=count >= 0")
        result[queue] = value
    return result


def parse_queue_slots(text: str) -> dict[QueueName, SlotRange]:
    """`convert=1:3,rotate=0:2,resize=1` -> a range per queue; a bare number is the
    minimum with no maximum; queues not named get 0 to the total."""
    result = {queue: SlotRange() for queue in QueueName}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, bounds = item.partition("=")
        low, colon, high = bounds.partition(":")
        try:
            queue = queue_name(name)
            minimum = int(low)
            maximum = int(high) if colon else None
        except ValueError:
            raise ValueError(f"bad queue slots item {item!r}: expected queue=min:max") from None
        if not sep or minimum < 0 or (maximum is not None and maximum < minimum):
            raise ValueError(
                f"bad queue slots item {item!r}: expected queue=min:max, 0 <= min <= max"
            )
        result[queue] = SlotRange(minimum, maximum)
    return result
