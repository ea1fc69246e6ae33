"""pad: fit inside width x height and fill the rest with a colour (transparent by
default, where the output format allows; formats without alpha flatten onto white)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from imgflow.domain import QueueName
from imgflow.imaging.ops.resize import fitted_size, scale
from imgflow.imaging.step import Flag, Size, Step, bad_input, param, side

if TYPE_CHECKING:
    from PIL import Image

COLOUR = re.compile(r"#(?P<rgb>[0-9a-fA-F]{6})(?P<alpha>[0-9a-fA-F]{2})?")


def colour_value(text: str, where: str) -> tuple[int, int, int, int]:
    """`#rrggbb` or `#rrggbbaa` as (r, g, b, a); BAD_USER_INPUT otherwise."""
    match = COLOUR.fullmatch(text)
    if match is None:
        raise bad_input(f"{where} must be #rrggbb or #rrggbbaa, got {text!r}")
    digits = match["rgb"] + (match["alpha"] or "ff")
    red, green, blue, alpha = (int(digits[i : i + 2], 16) for i in range(0, 8, 2))
    return red, green, blue, alpha


@dataclass(frozen=True)
class Pad(Step):
    """Fit inside width x height, keeping the aspect ratio, centred on a background of
    that exact size."""

    name: ClassVar[str] = "pad"
    rank: ClassVar[int] = 110
    label: ClassVar[str] = "Pad (fit and fill)"
    queue: ClassVar[QueueName | None] = QueueName.RESIZE
    flag: ClassVar[Flag | None] = Flag(
        "W,H[,#RRGGBB[AA]]", "fit inside WxH and fill the rest (transparent by default)"
    )

    width: int = side(initial=400)
    height: int = side(initial=400)
    background: str = param(
        "#00000000", doc="#rrggbb or #rrggbbaa; transparent (#00000000) by default."
    )

    def check(self) -> None:
        colour_value(self.background, "pad.background")

    def planned_size(self, size: Size) -> Size:
        return self.width, self.height

    def apply(self, frame: Image.Image) -> Image.Image:
        from PIL import Image

        red, green, blue, alpha = colour_value(self.background, "pad.background")
        grey = red == green == blue and frame.mode in ("L", "LA")
        with_alpha = alpha < 255 or frame.mode in ("RGBA", "LA")
        mode = ("LA" if with_alpha else "L") if grey else ("RGBA" if with_alpha else "RGB")
        fills: dict[str, int | tuple[int, ...]] = {
            "L": red,
            "LA": (red, alpha),
            "RGB": (red, green, blue),
            "RGBA": (red, green, blue, alpha),
        }
        fill = fills[mode]
        canvas = Image.new(mode, (self.width, self.height), fill)
        inner = scale(frame, fitted_size(frame.size, self.width, self.height)).convert(mode)
        position = ((self.width - inner.width) // 2, (self.height - inner.height) // 2)
        # Pasted, not composited: the picture keeps its own transparency; only the
        # margins take the background.
        canvas.paste(inner, position)
        return canvas
