"""adjust: brightness, contrast, saturation and gamma, each a multiplier (1 = unchanged)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from imgflow.imaging.step import Flag, Step, param

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class Adjust(Step):
    """Brightness, contrast, saturation and gamma as multipliers: 1 leaves each as it
    is, 0 gives black / flat grey / no colour; gamma above 1 lightens the mid-tones."""

    name: ClassVar[str] = "adjust"
    rank: ClassVar[int] = 130
    label: ClassVar[str] = "Adjust colour"
    flag: ClassVar[Flag | None] = Flag(
        "brightness=B,contrast=C,saturation=S,gamma=G", "multipliers, 1 = unchanged"
    )

    brightness: float = param(1.0, low=0, high=10, doc="0 (black) to 10; 1 = unchanged.")
    contrast: float = param(1.0, low=0, high=10, doc="0 (flat grey) to 10; 1 = unchanged.")
    saturation: float = param(1.0, low=0, high=10, doc="0 (grey) to 10; 1 = unchanged.")
    gamma: float = param(1.0, low=0.1, high=10, doc="0.1 to 10; above 1 lightens mid-tones.")

    def apply(self, frame: Image.Image) -> Image.Image:
        from PIL import Image, ImageEnhance

        alpha = frame.getchannel("A") if frame.mode in ("RGBA", "LA") else None
        colour = frame.convert(frame.mode[:-1]) if alpha is not None else frame
        if self.gamma != 1:
            curve = [round(255 * (level / 255) ** (1 / self.gamma)) for level in range(256)]
            colour = colour.point(curve * len(colour.getbands()))
        enhancers = (
            (ImageEnhance.Brightness, self.brightness),
            (ImageEnhance.Contrast, self.contrast),
            (ImageEnhance.Color, self.saturation if colour.mode == "RGB" else 1),
        )
        for enhancer, factor in enhancers:
            if factor != 1:
                colour = enhancer(colour).enhance(factor)
        if alpha is None:
            return colour
        return Image.merge(frame.mode, (*colour.split(), alpha))
