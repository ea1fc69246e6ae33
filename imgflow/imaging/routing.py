"""Which queue a pipeline goes to.

Rule: the queue of the LAST step that has a queue of its own (rotate, resize,
force_resize, convert: each operation declares it, see imgflow.imaging.step). That step
fixes the output size and format, which decide the cost of encoding, the dominant cost
of a job (see BASELINES: PNG encoding is ~72% of the CPU in the mixed workload). Steps
without a queue ride along; a pipeline made only of them goes to CONVERT, since its
cost is a re-encode. So a single-operation job lands on its operation's queue.
"""

from __future__ import annotations

from collections.abc import Sequence

from imgflow.domain import QueueName
from imgflow.imaging.step import Step


def route(operations: Sequence[Step]) -> QueueName:
    for op in reversed(operations):
        if op.queue is not None:
            return op.queue
    return QueueName.CONVERT
