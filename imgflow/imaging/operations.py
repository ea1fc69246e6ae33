"""Typed operation specs: what a pipeline step asks for, validated, JSON round-trippable.

These are plain values. The API builds them from GraphQL input, the job row stores
them as JSON, and `workers.transforms` applies them to pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import OutputFormat

MAX_SIDE = 65_535
"""No side, requested or produced, may exceed what every output codec can hold."""


def _bad(message: str) -> ImgflowError:
    return ImgflowError(ErrorCode.BAD_USER_INPUT, message)


def _check_side(name: str, value: int) -> None:
    if not 1 <= value <= MAX_SIDE:
        raise _bad(f"{name} must be between 1 and {MAX_SIDE}, got {value}")


class FlipDirection(StrEnum):
    HORIZONTAL = "HORIZONTAL"
    """Mirror left to right."""
    VERTICAL = "VERTICAL"
    """Mirror top to bottom."""


@dataclass(frozen=True)
class Rotate:
    """Rotate counter-clockwise by whole degrees; non-right angles expand the canvas."""

    name: ClassVar[str] = "rotate"
    degrees: int

    def __post_init__(self) -> None:
        if not -360 <= self.degrees <= 360:
            raise _bad(f"rotate.degrees must be between -360 and 360, got {self.degrees}")


@dataclass(frozen=True)
class Resize:
    """Fit inside width x height keeping the aspect ratio; one side may be omitted."""

    name: ClassVar[str] = "resize"
    width: int | None = None
    height: int | None = None

    def __post_init__(self) -> None:
        if self.width is None and self.height is None:
            raise _bad("resize needs a width, a height, or both")
        if self.width is not None:
            _check_side("resize.width", self.width)
        if self.height is not None:
            _check_side("resize.height", self.height)


@dataclass(frozen=True)
class ForceResize:
    """Scale to exactly width x height, ignoring the aspect ratio."""

    name: ClassVar[str] = "force_resize"
    width: int
    height: int

    def __post_init__(self) -> None:
        _check_side("forceResize.width", self.width)
        _check_side("forceResize.height", self.height)


MAX_BYTES_FLOOR = 100
"""The smallest `convert.maxBytes`: below it no format holds even a 1x1 image."""


@dataclass(frozen=True)
class Convert:
    """Choose the output format (and quality, 1-100, for lossy encoders); AUTO picks the
    smallest; `max_bytes` asks for the highest quality whose file fits."""

    name: ClassVar[str] = "convert"
    format: OutputFormat
    quality: int | None = None
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise _bad(f"convert.quality must be between 1 and 100, got {self.quality}")
        if self.max_bytes is not None and self.max_bytes < MAX_BYTES_FLOOR:
            raise _bad(f"convert.maxBytes must be at least {MAX_BYTES_FLOOR}, got {self.max_bytes}")


@dataclass(frozen=True)
class Crop:
    """Keep the rectangle at (left, top) of width x height; it must lie inside the image."""

    name: ClassVar[str] = "crop"
    left: int
    top: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.left < 0 or self.top < 0:
            raise _bad("crop.left and crop.top must not be negative")
        _check_side("crop.width", self.width)
        _check_side("crop.height", self.height)


@dataclass(frozen=True)
class Flip:
    """Mirror the image."""

    name: ClassVar[str] = "flip"
    direction: FlipDirection


@dataclass(frozen=True)
class Grayscale:
    """Drop colour, keep alpha."""

    name: ClassVar[str] = "grayscale"


@dataclass(frozen=True)
class Blur:
    """Gaussian blur with the given radius in pixels (0.1-100)."""

    name: ClassVar[str] = "blur"
    radius: float

    def __post_init__(self) -> None:
        if not 0.1 <= self.radius <= 100:
            raise _bad(f"blur.radius must be between 0.1 and 100, got {self.radius}")


@dataclass(frozen=True)
class Sharpen:
    """Unsharp mask: radius in pixels, strength in percent, threshold in levels."""

    name: ClassVar[str] = "sharpen"
    radius: float = 2.0
    percent: int = 150
    threshold: int = 3

    def __post_init__(self) -> None:
        if not 0.1 <= self.radius <= 100:
            raise _bad(f"sharpen.radius must be between 0.1 and 100, got {self.radius}")
        if not 1 <= self.percent <= 1000:
            raise _bad(f"sharpen.percent must be between 1 and 1000, got {self.percent}")
        if not 0 <= self.threshold <= 255:
            raise _bad(f"sharpen.threshold must be between 0 and 255, got {self.threshold}")


Operation = Rotate | Resize | ForceResize | Convert | Crop | Flip | Grayscale | Blur | Sharpen

OPERATION_TYPES: dict[str, type[Operation]] = {
    cls.name: cls
    for cls in (Rotate, Resize, ForceResize, Convert, Crop, Flip, Grayscale, Blur, Sharpen)
}


def operation_to_dict(op: Operation) -> dict[str, Any]:
    """JSON-ready form stored on the job row: {"op": name, **fields}."""
    return {"op": op.name, **asdict(op)}


def operation_from_dict(data: Mapping[str, Any]) -> Operation:
    """Inverse of `operation_to_dict`; validates like the constructor does."""
    values = dict(data)
    cls = OPERATION_TYPES.get(str(values.pop("op", "")))
    if cls is None:
        raise _bad(f"unknown operation {data.get('op')!r}")
    names = {f.name for f in fields(cls)}
    kwargs = {k: v for k, v in values.items() if k in names}
    if cls is Convert:
        kwargs["format"] = OutputFormat(kwargs["format"])
    if cls is Flip:
        kwargs["direction"] = FlipDirection(kwargs["direction"])
    return cls(**kwargs)


def pipeline_to_json(ops: Sequence[Operation]) -> list[dict[str, Any]]:
    return [operation_to_dict(op) for op in ops]


def pipeline_from_json(data: Sequence[Mapping[str, Any]]) -> list[Operation]:
    return [operation_from_dict(item) for item in data]
