"""Pixel operations on one frame, looked up by operation name.

Every operation is a pure function `(frame, spec) -> frame` on RGB, RGBA, L or LA
frames (the codec normalises modes at decode), producing the size that
imgflow.imaging.sizes planned for it. Frames are treated as immutable: an operation
that changes nothing may return its input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PIL import Image

from imgflow.imaging.operations import (
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
from workers.transforms import colour, filters, geometry

__all__ = ["REGISTRY", "apply"]


def _unchanged(image: Image.Image, spec: object) -> Image.Image:
    return image


REGISTRY: dict[str, Callable[[Image.Image, Any], Image.Image]] = {
    Rotate.name: geometry.rotate,
    Resize.name: geometry.resize,
    ForceResize.name: geometry.force_resize,
    Crop.name: geometry.crop,
    Flip.name: geometry.flip,
    Grayscale.name: colour.grayscale,
    Blur.name: filters.blur,
    Sharpen.name: filters.sharpen,
    # Convert picks the output encoding; the pipeline reads it, pixels stay as they are.
    Convert.name: _unchanged,
}


def apply(image: Image.Image, op: Operation) -> Image.Image:
    """`op` applied to one frame."""
    return REGISTRY[op.name](image, op)
