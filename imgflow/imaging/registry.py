"""Every operation, collected from the modules of `imgflow.imaging.ops`.

Adding an operation is adding one module there with one `Step` subclass: nothing here
names it. The registry is read at import, in `rank` order.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from imgflow.imaging import ops
from imgflow.imaging.step import Step, bad_input, graphql_name, spec_from_values


def _steps_of(module: ModuleType) -> list[type[Step]]:
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Step)
        and value.__module__ == module.__name__
    ]


def _collect() -> tuple[type[Step], ...]:
    found: list[type[Step]] = []
    for info in pkgutil.iter_modules(ops.__path__):
        module = importlib.import_module(f"{ops.__name__}.{info.name}")
        steps = _steps_of(module)
        if len(steps) != 1:
            raise RuntimeError(f"{module.__name__} must define one Step, found {len(steps)}")
        found.extend(steps)
    found.sort(key=lambda cls: (cls.rank, cls.name))
    names = [cls.name for cls in found]
    if len(set(names)) != len(names):
        raise RuntimeError(f"two operations share a name: {names}")
    return tuple(found)


STEPS: tuple[type[Step], ...] = _collect()
"""Every operation, in `rank` order."""

BY_NAME: Mapping[str, type[Step]] = {cls.name: cls for cls in STEPS}
BY_GRAPHQL_NAME: Mapping[str, type[Step]] = {graphql_name(cls.name): cls for cls in STEPS}


def step_from_dict(data: Mapping[str, Any]) -> Step:
    """A step from its JSON form ({"op": name, **fields}); validates like the
    constructor does."""
    values = dict(data)
    cls = BY_NAME.get(str(values.pop("op", "")))
    if cls is None:
        raise bad_input(f"unknown operation {data.get('op')!r}")
    return spec_from_values(cls, values)
