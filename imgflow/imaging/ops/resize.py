"""resize: fit inside width x height keeping the aspect ratio; one side may be omitted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from imgflow.domain import QueueName
from imgflow.imaging.flagtext import size_text
from imgflow.imaging.step import Flag, Size, Step, bad_input, side

if TYPE_CHECKING:
    from PIL import Image

REDUCING_GAP = 2.0
"""What `Image.thumbnail` uses: shrink by an integer factor first, then LANCZOS the rest.

Several times faster on big downscales and indistinguishable from a pure LANCZOS pass.
"""


def _resize_flag(text: str) -> dict[str, int | None]:
    width, height = size_text(text)
    return {"width": width, "height": height}


@dataclass(frozen=True)
class Resize(Step):
    """Fit inside width x height, keeping the aspect ratio."""

    name: ClassVar[str] = "resize"
    rank: ClassVar[int] = 20
    label: ClassVar[str] = "Resize (fit inside)"
    queue: ClassVar[QueueName | None] = QueueName.RESIZE
    flag: ClassVar[Flag | None] = Flag(
        "WxH|W|xH", "fit inside WxH keeping the aspect ratio", _resize_flag
    )

    width: int | None = side(None, initial=800)
    height: int | None = side(None)

    def check(self) -> None:
        if self.width is None and self.height is None:
            raise bad_input("resize needs a width, a height, or both")

    def scaled_source(self, size: Size) -> Size | None:
        return self.planned_size(size)

    def planned_size(self, size: Size) -> Size:
        return fitted_size(size, self.width, self.height)

    def apply(self, frame: Image.Image) -> Image.Image:
        return scale(frame, self.planned_size(frame.size))


def fitted_size(size: Size, width: int | None, height: int | None) -> Size:
    """Largest size inside width x height with the source's aspect; never a 0 side."""
    if width is None:
        assert height is not None  # Resize guarantees at least one side
        return _fit_height(size, height)
    # Integer cross-multiplication decides which side binds without float error.
    if height is not None and height * size[0] < width * size[1]:
        return _fit_height(size, height)
    return width, max(1, round(size[1] * width / size[0]))


def _fit_height(size: Size, height: int) -> Size:
    return max(1, round(size[0] * height / size[1])), height


def scale(frame: Image.Image, size: Size) -> Image.Image:
    """`frame` at `size` (LANCZOS with a reducing gap); unchanged when already that size."""
    from PIL import Image

    if size == frame.size:
        return frame
    return frame.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
