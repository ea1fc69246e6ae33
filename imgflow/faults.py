"""Fault injection for tests: real failures at named points, inert unless configured.

`IMGFLOW_FAULT_INJECTION=storage_get:3` makes the first 3 source reads of this process
raise `ConnectionError`, the way an unreachable storage would, so the retry path runs
through the real worker, broker and database. Test-only; empty (the default) = off.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

POINTS = frozenset({"storage_get", "output_stored"})
"""Where a fault can be injected: `storage_get` = the worker reading a job's source;
`output_stored` = the worker right after recording one of a job's outputs, before the
next (a crash mid-job: the re-run must not make that output twice)."""


def parse(spec: str) -> dict[str, int]:
    """`storage_get:3[,point:count...]` -> {"storage_get": 3}; refuses unknown points, so
    a typo cannot quietly turn a fault test into a plain one."""
    counts: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        point, sep, count = item.partition(":")
        point = point.strip()
        if not sep or point not in POINTS or not count.strip().isdigit():
            raise ValueError(
                f"bad fault injection item {item!r}: expected point:count with point in "
                f"{sorted(POINTS)}"
            )
        counts[point] = int(count)
    return counts


class Faults:
    """The faults still to inject in this process."""

    def __init__(self, spec: str = "") -> None:
        self.remaining = parse(spec)
        if self.remaining:
            log.warning("FAULT INJECTION IS ON (test-only): %s", self.remaining)

    def trip(self, point: str) -> None:
        """Raise a transient error at `point` if faults are left there."""
        left = self.remaining.get(point, 0)
        if left > 0:
            self.remaining[point] = left - 1
            raise ConnectionError(f"injected fault at {point} ({left - 1} more to come)")
