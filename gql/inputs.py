"""Typed operation input: exactly one member per pipeline step (@oneOf)."""

from __future__ import annotations

import strawberry

from gql.enums import FlipDirection, OutputFormat
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging import operations as ops


@strawberry.input(description="Rotate counter-clockwise; non-right angles expand the canvas.")
class RotateInput:
    degrees: int


@strawberry.input(description="Fit inside width x height, keeping the aspect ratio.")
class ResizeInput:
    width: int | None = None
    height: int | None = None


@strawberry.input(description="Scale to exactly width x height.")
class ForceResizeInput:
    width: int
    height: int


@strawberry.input(
    description="Choose the output format (AUTO: the smallest of WEBP, AVIF and JPEG, or PNG "
    "for alpha or flat colour); quality 1-100 for lossy formats; maxBytes: the highest "
    "quality whose file fits, else OUTPUT_TOO_LARGE."
)
class ConvertInput:
    format: OutputFormat
    quality: int | None = None
    max_bytes: int | None = None


@strawberry.input(description="Keep the rectangle at (left, top); it must lie inside the image.")
class CropInput:
    left: int
    top: int
    width: int
    height: int


@strawberry.input(description="Mirror the image.")
class FlipInput:
    direction: FlipDirection


@strawberry.input(description="Gaussian blur.")
class BlurInput:
    radius: float


@strawberry.input(description="Unsharp mask.")
class SharpenInput:
    radius: float = 2.0
    percent: int = 150
    threshold: int = 3


@strawberry.input(
    one_of=True,
    description="One pipeline step: set exactly one field. `grayscale: true` drops colour.",
)
class OperationInput:
    rotate: RotateInput | None = strawberry.UNSET
    resize: ResizeInput | None = strawberry.UNSET
    force_resize: ForceResizeInput | None = strawberry.UNSET
    convert: ConvertInput | None = strawberry.UNSET
    crop: CropInput | None = strawberry.UNSET
    flip: FlipInput | None = strawberry.UNSET
    grayscale: bool | None = strawberry.UNSET
    blur: BlurInput | None = strawberry.UNSET
    sharpen: SharpenInput | None = strawberry.UNSET

    def to_operation(self) -> ops.Operation:
        if self.rotate:
            return ops.Rotate(self.rotate.degrees)
        if self.resize:
            return ops.Resize(self.resize.width, self.resize.height)
        if self.force_resize:
            return ops.ForceResize(self.force_resize.width, self.force_resize.height)
        if self.convert:
            target = self.convert
            return ops.Convert(OutputFormat(target.format), target.quality, target.max_bytes)
        if self.crop:
            c = self.crop
            return ops.Crop(c.left, c.top, c.width, c.height)
        if self.flip:
            return ops.Flip(ops.FlipDirection(self.flip.direction))
        if self.grayscale is True:
            return ops.Grayscale()
        if self.blur:
            return ops.Blur(self.blur.radius)
        if self.sharpen:
            s = self.sharpen
            return ops.Sharpen(s.radius, s.percent, s.threshold)
        raise ImgflowError(ErrorCode.BAD_USER_INPUT, "grayscale must be true when given")


def to_operations(inputs: list[OperationInput]) -> list[ops.Operation]:
    return [item.to_operation() for item in inputs]
