"""rotate: counter-clockwise by whole degrees; other than right angles expand the canvas."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from imgflow.domain import QueueName
from imgflow.imaging.flagtext import whole
from imgflow.imaging.step import Flag, Size, Step, param

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class Rotate(Step):
    """Rotate counter-clockwise; non-right angles expand the canvas."""

    name: ClassVar[str] = "rotate"
    rank: ClassVar[int] = 10
    label: ClassVar[str] = "Rotate"
    queue: ClassVar[QueueName | None] = QueueName.ROTATE
    flag: ClassVar[Flag | None] = Flag(
        "DEG",
        "rotate counter-clockwise by DEG degrees",
        lambda text: {"degrees": whole(text, "DEG")},
    )

    degrees: int = param(low=-360, high=360, doc="Whole degrees, -360 to 360.", initial=90)

    def planned_size(self, size: Size) -> Size:
        """Exactly the canvas `Image.rotate(expand=True)` produces (same float steps)."""
        degrees = self.degrees % 360
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

    def apply(self, frame: Image.Image) -> Image.Image:
        from PIL import Image

        degrees = self.degrees % 360
        if degrees == 0:
            return frame
        right_angles = {
            90: Image.Transpose.ROTATE_90,
            180: Image.Transpose.ROTATE_180,
            270: Image.Transpose.ROTATE_270,
        }
        if degrees in right_angles:
            return frame.transpose(right_angles[degrees])
        return frame.rotate(
            degrees,
            Image.Resampling.BICUBIC,
            expand=True,
            fillcolor=_BACKGROUNDS.get(frame.mode),
        )


# Transparent where the frame has alpha, white otherwise. Transparent *black* because
# Pillow rotates RGBA/LA premultiplied, where colour must not exceed alpha.
_BACKGROUNDS: dict[str, int | tuple[int, ...]] = {
    "RGBA": (0, 0, 0, 0),
    "LA": (0, 0),
    "RGB": (255, 255, 255),
    "L": 255,
}
