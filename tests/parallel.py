"""How the suite is spread over test processes (pytest-xdist; `scripts/test` runs two).

The suite is mostly waiting on other processes (servers, workers, services), so two test
processes use the second core. Work is handed out in units, each a module's tests on one
backend mix, because the session's `server` is parametrised by mix: a process switching
mix tears its server down and starts the other's, so all `embedded` units are handed out
before the `services` ones and each process switches once. Heavy units without a mix go
first (each fault test builds a cluster of its own, so they are units of one test) and
the many short unit tests last, to even out the finish.
"""

from __future__ import annotations

import re
from collections import OrderedDict

import pytest
from xdist.scheduler import LoadScopeScheduling

MIX = re.compile(r"\[(?:.*-)?(embedded|services)(?:-.*)?\]$")
WHOLE = ("tests/install/",)
"""Modules kept in one unit: their session fixtures (a wheel, a plain venv) cost a minute."""


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to."""
    path = nodeid.split("::", 1)[0]
    if path.startswith("tests/faults/"):
        return nodeid
    mix = MIX.search(nodeid)
    if mix is None or path.startswith(WHOLE):
        return path
    return f"{path}[{mix.group(1)}]"


def rank(unit: str) -> int:
    if unit.startswith(("tests/faults/", *WHOLE)):
        return 0
    if unit.endswith("[embedded]"):
        return 1
    if unit.endswith("[services]"):
        return 2
    return 4 if unit.startswith("tests/unit/") else 3


class MixAwareScheduling(LoadScopeScheduling):
    """xdist's `loadscope`, with the units and their order above."""

    def __init__(self, config: pytest.Config, log: object = None) -> None:
        super().__init__(config, log)  # type: ignore[arg-type]
        self.ordered = False

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)

    def _assign_work_unit(self, node: object) -> None:
        if not self.ordered:
            # Stable: within a rank, xdist's own order (larger units first) stands.
            units = sorted(self.workqueue.items(), key=lambda unit: rank(unit[0]))
            self.workqueue = OrderedDict(units)
            self.ordered = True
        super()._assign_work_unit(node)  # type: ignore[arg-type]
