"""text: a text watermark, in the DejaVu Sans font shipped with imgflow (fonts/)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.ops.pad import colour_value
from imgflow.imaging.placement import Gravity, check_compass, position, stamp_on
from imgflow.imaging.step import Flag, Step, bad_input, param

if TYPE_CHECKING:
    from PIL import Image, ImageFont

FONT = Path(__file__).resolve().parents[1] / "fonts" / "DejaVuSans.ttf"
"""DejaVu Sans 2.37 (Bitstream Vera licence, fonts/LICENSE): Latin, Greek, Cyrillic,
Armenian, Georgian, Hebrew, Arabic and many symbols; other glyphs show as boxes."""
MAX_LENGTH = 500

_local = threading.local()


@dataclass(frozen=True)
class Text(Step):
    """Write a line of text over the picture (a watermark), in DejaVu Sans."""

    name: ClassVar[str] = "text"
    rank: ClassVar[int] = 150
    label: ClassVar[str] = "Text watermark"
    flag: ClassVar[Flag | None] = Flag(
        "TEXT[,gravity=G,size=PX,color=#RRGGBB,opacity=O,margin=PX]",
        "write TEXT over the picture (default bottom right, 24 px, white)",
    )

    text: str = param(doc="1 to 500 characters; one line.", initial="© imgflow")
    gravity: Gravity = param(Gravity.SOUTH_EAST, doc="CENTER or a compass point.")
    size: int = param(24, low=4, high=1000, doc="Font size in pixels, 4 to 1000.")
    color: str = param("#ffffff", doc="#rrggbb or #rrggbbaa.")
    opacity: float = param(0.8, low=0, high=1, doc="0 (invisible) to 1 (opaque).")
    margin: int = param(16, low=0, high=10_000, doc="Pixels from the edges, 0 to 10000.")

    def check(self) -> None:
        if not self.text.strip() or len(self.text) > MAX_LENGTH or "\n" in self.text:
            raise bad_input(f"text.text must be one line of 1 to {MAX_LENGTH} characters")
        check_compass(self.gravity, "text.gravity")
        colour_value(self.color, "text.color")

    def apply(self, frame: Image.Image) -> Image.Image:
        from PIL import Image, ImageDraw

        font = _font(self.size)
        left, top, right, bottom = (round(edge) for edge in font.getbbox(self.text))
        width, height = max(1, right - left), max(1, bottom - top)
        # Measured before anything is drawn: a long text in a big size would otherwise
        # rasterise far more pixels than the picture has.
        if width > frame.width - 2 * self.margin or height > frame.height - 2 * self.margin:
            raise ImgflowError(
                ErrorCode.INVALID_OPERATION,
                f"text: {width}x{height} px of text does not fit inside a {self.margin} px "
                f"margin on a {frame.width}x{frame.height} image; use a smaller size",
            )
        stamp = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        ImageDraw.Draw(stamp).text(
            (-left, -top), self.text, font=font, fill=colour_value(self.color, "text.color")
        )
        at = position(frame.size, stamp.size, self.gravity, self.margin)
        return stamp_on(frame, stamp, at, self.opacity)


def _font(size: int) -> ImageFont.FreeTypeFont:
    """One font object per size and thread: FreeType faces are not shared across threads."""
    from PIL import ImageFont

    fonts: dict[int, ImageFont.FreeTypeFont] = _local.__dict__.setdefault("fonts", {})
    if size not in fonts:
        fonts[size] = ImageFont.truetype(str(FONT), size)
    return fonts[size]
