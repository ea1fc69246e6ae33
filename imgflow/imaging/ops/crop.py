"""crop: keep a rectangle given by its top-left corner and size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.flagtext import fail, numbers, positive, whole
from imgflow.imaging.step import MAX_SIDE, Flag, Size, Step, param, side

if TYPE_CHECKING:
    from PIL import Image


def _crop_flag(text: str) -> dict[str, int]:
    left, top, width, height = numbers(text, 4, 4, "L,T,W,H (e.g. 10,20,300,200)")
    rectangle = {"left": whole(left, "L"), "top": whole(top, "T")}
    if rectangle["left"] < 0 or rectangle["top"] < 0:
        raise fail(f"L and T must not be negative, got {text!r}")
    return {**rectangle, "width": positive(width, "W"), "height": positive(height, "H")}


@dataclass(frozen=True)
class Crop(Step):
    """Keep the rectangle at (left, top); it must lie inside the image."""

    name: ClassVar[str] = "crop"
    rank: ClassVar[int] = 50
    label: ClassVar[str] = "Crop"
    flag: ClassVar[Flag | None] = Flag(
        "L,T,W,H", "keep the WxH rectangle at left L, top T", _crop_flag
    )

    left: int = param(low=0, high=MAX_SIDE, initial=0)
    top: int = param(low=0, high=MAX_SIDE, initial=0)
    width: int = side(initial=400)
    height: int = side(initial=300)

    def planned_size(self, size: Size) -> Size:
        width, height = size
        if self.left + self.width > width or self.top + self.height > height:
            raise ImgflowError(
                ErrorCode.INVALID_OPERATION,
                f"crop {self.width}x{self.height} at ({self.left}, {self.top}) does not fit "
                f"inside the {width}x{height} image",
            )
        return self.width, self.height

    def apply(self, frame: Image.Image) -> Image.Image:
        self.planned_size(frame.size)
        return frame.crop((self.left, self.top, self.left + self.width, self.top + self.height))
