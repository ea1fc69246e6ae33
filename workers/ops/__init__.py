"""Pixel operations on one frame, looked up by operation name.

Every operation is a pure function `(frame, spec) -> frame` on RGB, RGBA, L or LA
frames (the codec normalises modes at decode), plus a size function the pipeline uses
to plan and check output sizes before touching pixels. Frames are treated as
immutable: an operation that changes nothing may return its input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PIL import Image

from workers.operations import (
    Blur,
    Convert,
    Crop,
    Flip,
    ForceResize,
    Grayscale,
    Operation,
    Resize,
    Rotate,
    Sharpen,
)
from workers.ops import colour, filters, geometry
from workers.ops.geometry import Size

__all__ = ["REGISTRY", "Size", "Step", "apply", "output_size"]

Spec = TypeVar("Spec")


@dataclass(frozen=True)
class Step(Generic[Spec]):
    """How one kind of operation changes pixels, and what size it produces."""

    transform: Callable[[Image.Image, Spec], Image.Image]
    size: Callable[[Size, Spec], Size]


def _unchanged(image: Image.Image, spec: object) -> Image.Image:
    return image


def _same_size(size: Size, spec: object) -> Size:
    return size


REGISTRY: dict[str, Step[Any]] = {
    Rotate.name: Step(geometry.rotate, geometry.rotated_size),
    Resize.name: Step(geometry.resize, geometry.fitted_size),
    ForceResize.name: Step(geometry.force_resize, geometry.forced_size),
    Crop.name: Step(geometry.crop, geometry.cropped_size),
    Flip.name: Step(geometry.flip, _same_size),
    Grayscale.name: Step(colour.grayscale, _same_size),
    Blur.name: Step(filters.blur, _same_size),
    Sharpen.name: Step(filters.sharpen, _same_size),
    # Convert picks the output encoding; the pipeline reads it, pixels stay as they are.
    Convert.name: Step(_unchanged, _same_size),
}


def apply(image: Image.Image, op: Operation) -> Image.Image:
    """`op` applied to one frame."""
    return REGISTRY[op.name].transform(image, op)


def output_size(size: Size, op: Operation) -> Size:
    """The frame size `op` turns `size` into; raises as `apply` would for a bad crop."""
    return REGISTRY[op.name].size(size, op)
