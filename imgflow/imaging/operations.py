"""Typed operation specs: what a pipeline step asks for, validated, JSON round-trippable.

Each operation is one module in `imgflow.imaging.ops` (see imgflow.imaging.step); this
module names them for the code that handles pipelines. The API builds them from
GraphQL input, the job row stores them as JSON, and the worker applies them to pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from imgflow.imaging.ops.blur import Blur
from imgflow.imaging.ops.convert import Convert
from imgflow.imaging.ops.crop import Crop
from imgflow.imaging.ops.flip import Flip, FlipDirection
from imgflow.imaging.ops.force_resize import ForceResize
from imgflow.imaging.ops.grayscale import Grayscale
from imgflow.imaging.ops.resize import Resize
from imgflow.imaging.ops.rotate import Rotate
from imgflow.imaging.ops.sharpen import Sharpen
from imgflow.imaging.registry import BY_NAME, step_from_dict
from imgflow.imaging.step import MAX_SIDE, Step, spec_to_dict

Operation = Step
"""Any pipeline step."""

OPERATION_TYPES: Mapping[str, type[Step]] = BY_NAME

__all__ = [
    "MAX_SIDE",
    "OPERATION_TYPES",
    "Blur",
    "Convert",
    "Crop",
    "Flip",
    "FlipDirection",
    "ForceResize",
    "Grayscale",
    "Operation",
    "Resize",
    "Rotate",
    "Sharpen",
    "operation_from_dict",
    "operation_to_dict",
    "pipeline_from_json",
    "pipeline_to_json",
]


def operation_to_dict(op: Operation) -> dict[str, Any]:
    """JSON-ready form stored on the job row: {"op": name, **fields}."""
    return spec_to_dict(op)


def operation_from_dict(data: Mapping[str, Any]) -> Operation:
    """Inverse of `operation_to_dict`; validates like the constructor does."""
    return step_from_dict(data)


def pipeline_to_json(ops: Sequence[Operation]) -> list[dict[str, Any]]:
    return [operation_to_dict(op) for op in ops]


def pipeline_from_json(data: Sequence[Mapping[str, Any]]) -> list[Operation]:
    return [operation_from_dict(item) for item in data]
