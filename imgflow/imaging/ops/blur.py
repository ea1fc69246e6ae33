"""blur: Gaussian blur, alpha-aware."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from imgflow.imaging.flagtext import radius
from imgflow.imaging.step import Flag, Step, param

if TYPE_CHECKING:
    from PIL import Image

PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}


@dataclass(frozen=True)
class Blur(Step):
    """Gaussian blur."""

    name: ClassVar[str] = "blur"
    rank: ClassVar[int] = 80
    label: ClassVar[str] = "Blur"
    flag: ClassVar[Flag | None] = Flag(
        "R", "Gaussian blur of radius R pixels", lambda text: {"radius": radius(text)}
    )

    radius: float = param(low=0.1, high=100, doc="In pixels, 0.1 to 100.", initial=2)

    def apply(self, frame: Image.Image) -> Image.Image:
        from PIL import ImageFilter

        gaussian = ImageFilter.GaussianBlur(self.radius)
        premultiplied = PREMULTIPLIED.get(frame.mode)
        if premultiplied is None:
            return frame.filter(gaussian)
        # Blurring straight alpha drags the colour of invisible pixels (often black) into
        # the visible edge; premultiplied, they weigh nothing.
        return frame.convert(premultiplied).filter(gaussian).convert(frame.mode)
