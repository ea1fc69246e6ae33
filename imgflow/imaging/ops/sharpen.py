"""sharpen: unsharp mask on the colour, never on the alpha."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from imgflow.imaging.flagtext import numbers, radius, whole
from imgflow.imaging.step import Flag, Step, param

if TYPE_CHECKING:
    from PIL import Image


def _sharpen_flag(text: str) -> dict[str, Any]:
    """R[,PERCENT[,THRESHOLD]]; what is left out takes the service's default."""
    parts = numbers(text, 1, 3, "R[,PERCENT,THRESHOLD] (e.g. 2 or 2,150,3)")
    options: dict[str, Any] = {"radius": radius(parts[0])}
    if len(parts) > 1:
        options["percent"] = whole(parts[1], "PERCENT")
    if len(parts) > 2:
        options["threshold"] = whole(parts[2], "THRESHOLD")
    return options


@dataclass(frozen=True)
class Sharpen(Step):
    """Unsharp mask."""

    name: ClassVar[str] = "sharpen"
    rank: ClassVar[int] = 90
    label: ClassVar[str] = "Sharpen"
    flag: ClassVar[Flag | None] = Flag(
        "R[,PERCENT,THRESHOLD]", "unsharp mask (defaults 2,150,3)", _sharpen_flag
    )

    radius: float = param(2.0, low=0.1, high=100, doc="In pixels, 0.1 to 100.")
    percent: int = param(150, low=1, high=1000, doc="Strength, 1 to 1000.")
    threshold: int = param(3, low=0, high=255, doc="Smallest change sharpened, 0 to 255.")

    def apply(self, frame: Image.Image) -> Image.Image:
        from PIL import Image, ImageFilter

        mask = ImageFilter.UnsharpMask(self.radius, self.percent, self.threshold)
        if frame.mode not in ("RGBA", "LA"):
            return frame.filter(mask)
        # Sharpening alpha would put halos into the outline; only the colour is sharpened.
        *colour_bands, alpha = frame.split()
        colour = Image.merge("RGB", colour_bands) if len(colour_bands) == 3 else colour_bands[0]
        sharpened = colour.filter(mask)
        sharpened.putalpha(alpha)
        return sharpened
