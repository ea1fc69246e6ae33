"""Which queue a pipeline goes to.

Rule: the queue of the LAST step that has a queue of its own (rotate, resize,
force_resize, convert). That step fixes the output size and format, which decide the
cost of encoding, the dominant cost of a job (see BASELINES: PNG encoding is ~72% of
the CPU in the mixed workload). Steps without a queue (crop, flip, grayscale, blur,
sharpen) ride along; a pipeline made only of them goes to CONVERT, since its cost is a
re-encode. So a single-operation job lands on its operation's queue.
"""

from __future__ import annotations

from collections.abc import Sequence

from imgflow.domain import QueueName
from imgflow.imaging.operations import Convert, ForceResize, Operation, Resize, Rotate

QUEUE_OF: dict[type[Operation], QueueName] = {
    Rotate: QueueName.ROTATE,
    Resize: QueueName.RESIZE,
    ForceResize: QueueName.FORCE_RESIZE,
    Convert: QueueName.CONVERT,
}


def route(operations: Sequence[Operation]) -> QueueName:
    for op in reversed(operations):
        queue = QUEUE_OF.get(type(op))
        if queue is not None:
            return queue
    return QueueName.CONVERT


HEAVIEST_FIRST = (QueueName.CONVERT, QueueName.ROTATE, QueueName.FORCE_RESIZE, QueueName.RESIZE)
"""Queues by the cost of what lands on them: a format change re-encodes at full size
(PNG encoding dominates, BASELINES), a rotation encodes every source pixel, a forced
size is usually a thumbnail with a resample, a fit-inside resize a smaller one."""


def route_outputs(prefix: Sequence[Operation], outputs: Sequence[Sequence[Operation]]) -> QueueName:
    """A job with several outputs is one message on one queue: each output's path (the
    prefix, then its steps) is routed by the rule above, and the job goes to the heaviest
    of those queues, so the workers sized for the costliest work take it. With one
    output this is `route` of its pipeline, as before outputs existed."""
    if not outputs:
        return route(prefix)
    queues = {route([*prefix, *steps]) for steps in outputs}
    return next(queue for queue in HEAVIEST_FIRST if queue in queues)
