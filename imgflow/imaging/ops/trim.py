"""trim: cut away a uniform border, the colour of the top-left pixel.

What is cut depends on the pixels, so the size plan is an upper bound (the size
unchanged): limits hold, and a later step that needs the trimmed size (a crop) is
checked when it runs. On an animation the first frame decides the box for all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from imgflow.imaging.ops.crop import Crop
from imgflow.imaging.step import Flag, Step, param

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class Trim(Step):
    """Cut away the border that has the top-left pixel's colour: a pixel belongs to the
    picture when a channel (alpha included) differs from it by more than threshold."""

    name: ClassVar[str] = "trim"
    rank: ClassVar[int] = 120
    label: ClassVar[str] = "Trim border"
    flag: ClassVar[Flag | None] = Flag("THRESHOLD", "cut away a uniform border (default 10)")

    threshold: int = param(10, low=0, high=254, doc="0 (exact colour) to 254; 10 by default.")

    def settle(self, first: Image.Image) -> Step:
        """The crop this trim makes on `first`; itself when nothing is to be cut."""
        box = self.content_box(first)
        if box is None or box == (0, 0, *first.size):
            return self
        left, top, right, bottom = box
        return Crop(left, top, right - left, bottom - top)

    def apply(self, frame: Image.Image) -> Image.Image:
        settled = self.settle(frame)
        return frame if settled is self else settled.apply(frame)

    def content_box(self, frame: Image.Image) -> tuple[int, int, int, int] | None:
        """The box around every pixel that differs from the border; None when none does."""
        from PIL import Image, ImageChops

        border = Image.new(frame.mode, frame.size, frame.getpixel((0, 0)))
        difference = ImageChops.difference(frame, border)
        # The largest difference over the channels, then thresholded.
        largest = difference.getchannel(0)
        for band in range(1, len(frame.getbands())):
            largest = ImageChops.lighter(largest, difference.getchannel(band))
        return largest.point(lambda level: 255 if level > self.threshold else 0).getbbox()
