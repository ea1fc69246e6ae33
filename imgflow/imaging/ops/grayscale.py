"""grayscale: drop colour, keep alpha. A step with no fields: `grayscale: true`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from imgflow.imaging.step import Flag, Step

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class Grayscale(Step):
    """Drop colour, keep alpha."""

    name: ClassVar[str] = "grayscale"
    rank: ClassVar[int] = 70
    label: ClassVar[str] = "Grayscale"
    flag: ClassVar[Flag | None] = Flag(None, "drop colour")

    def apply(self, frame: Image.Image) -> Image.Image:
        if frame.mode in ("L", "LA"):
            return frame
        return frame.convert("LA" if frame.mode == "RGBA" else "L")
