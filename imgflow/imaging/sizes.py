"""How big each operation makes a frame, from sizes alone.

The API refuses a pipeline before accepting it and the worker re-checks it before any
pixel work, both from these rules (imgflow.imaging.planning); the pixel functions in
workers.transforms produce exactly these sizes (a test holds them to it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from imgflow.errors import ErrorCode, ImgflowError
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

Size = tuple[int, int]


def rotated_size(size: Size, spec: Rotate) -> Size:
    """Exactly the canvas `Image.rotate(expand=True)` produces (same float steps)."""
    degrees = spec.degrees % 360
    width, height = size
    if degrees in (0, 180):
        return size
    if degrees in (90, 270):
        return height, width
    angle = -math.radians(degrees)
    cos, sin = round(math.cos(angle), 15), round(math.sin(angle), 15)
    centre_x, centre_y = width / 2, height / 2
    shift_x = cos * -centre_x + sin * -centre_y + centre_x
    shift_y = -sin * -centre_x + cos * -centre_y + centre_y
    corners = ((0, 0), (width, 0), (width, height), (0, height))
    xs = [cos * x + sin * y + shift_x for x, y in corners]
    ys = [-sin * x + cos * y + shift_y for x, y in corners]
    return (
        math.ceil(max(xs)) - math.floor(min(xs)),
        math.ceil(max(ys)) - math.floor(min(ys)),
    )


def fitted_size(size: Size, spec: Resize) -> Size:
    """Largest size inside width x height with the source's aspect; never a 0 side."""
    width, height = size
    if spec.width is None:
        assert spec.height is not None  # Resize guarantees at least one side
        return _fit_height(size, spec.height)
    # Integer cross-multiplication decides which side binds without float error.
    if spec.height is not None and spec.height * width < spec.width * height:
        return _fit_height(size, spec.height)
    return spec.width, max(1, round(height * spec.width / width))


def _fit_height(size: Size, height: int) -> Size:
    return max(1, round(size[0] * height / size[1])), height


def forced_size(size: Size, spec: ForceResize) -> Size:
    return spec.width, spec.height


def cropped_size(size: Size, spec: Crop) -> Size:
    width, height = size
    if spec.left + spec.width > width or spec.top + spec.height > height:
        raise ImgflowError(
            ErrorCode.INVALID_OPERATION,
            f"crop {spec.width}x{spec.height} at ({spec.left}, {spec.top}) does not fit "
            f"inside the {width}x{height} image",
        )
    return spec.width, spec.height


def _same_size(size: Size, spec: object) -> Size:
    return size


SIZE_RULES: dict[str, Callable[[Size, Any], Size]] = {
    Rotate.name: rotated_size,
    Resize.name: fitted_size,
    ForceResize.name: forced_size,
    Crop.name: cropped_size,
    Flip.name: _same_size,
    Grayscale.name: _same_size,
    Blur.name: _same_size,
    Sharpen.name: _same_size,
    Convert.name: _same_size,
}


def output_size(size: Size, op: Operation) -> Size:
    """The frame size `op` turns `size` into; raises INVALID_OPERATION for a crop that
    does not fit, as the pixel step would."""
    return SIZE_RULES[op.name](size, op)
