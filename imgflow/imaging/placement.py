"""Where a stamp (a text or an overlay image) goes on a frame: a compass gravity and
a margin, and how it is blended in (opacity). Shared by `text` and `overlay`; the
gravities themselves are fill's too."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from imgflow.imaging.step import bad_input

if TYPE_CHECKING:
    from PIL import Image


class Gravity(StrEnum):
    """Which part of the picture a fill keeps, or where a text or an overlay goes (those
    take CENTER and the compass points)."""

    CENTER = "CENTER"
    """The middle."""
    NORTH = "NORTH"
    """The top edge, centred across."""
    NORTH_EAST = "NORTH_EAST"
    """The top right corner."""
    EAST = "EAST"
    """The right edge, centred down."""
    SOUTH_EAST = "SOUTH_EAST"
    """The bottom right corner."""
    SOUTH = "SOUTH"
    """The bottom edge, centred across."""
    SOUTH_WEST = "SOUTH_WEST"
    """The bottom left corner."""
    WEST = "WEST"
    """The left edge, centred down."""
    NORTH_WEST = "NORTH_WEST"
    """The top left corner."""
    ATTENTION = "ATTENTION"
    """The most salient region: edges, saturated colour and skin tones (as libvips)."""
    ENTROPY = "ENTROPY"
    """The region with the most information (histogram entropy, as libvips)."""
    FACES = "FACES"
    """The detected faces; ATTENTION when none is found."""
    FOCUS = "FOCUS"
    """The point (focusX, focusY), kept in frame and as near the middle as it can be."""


# Where each compass gravity puts the crop: 0 = left/top, 0.5 = middle, 1 = right/bottom.
COMPASS = {
    Gravity.CENTER: (0.5, 0.5),
    Gravity.NORTH: (0.5, 0.0),
    Gravity.NORTH_EAST: (1.0, 0.0),
    Gravity.EAST: (1.0, 0.5),
    Gravity.SOUTH_EAST: (1.0, 1.0),
    Gravity.SOUTH: (0.5, 1.0),
    Gravity.SOUTH_WEST: (0.0, 1.0),
    Gravity.WEST: (0.0, 0.5),
    Gravity.NORTH_WEST: (0.0, 0.0),
}


def check_compass(gravity: Gravity, where: str) -> None:
    if gravity not in COMPASS:
        points = ", ".join(COMPASS)
        raise bad_input(f"{where} must be one of {points}, got {gravity.value}")


def position(
    frame: tuple[int, int], stamp: tuple[int, int], gravity: Gravity, margin: int
) -> tuple[int, int]:
    """The stamp's top-left corner: against the gravity's edges, `margin` pixels in."""
    across, down = COMPASS[gravity]
    spare = (frame[0] - stamp[0] - 2 * margin, frame[1] - stamp[1] - 2 * margin)
    return round(margin + spare[0] * across), round(margin + spare[1] * down)


def stamp_on(
    frame: Image.Image, stamp: Image.Image, at: tuple[int, int], opacity: float
) -> Image.Image:
    """`stamp` (RGBA) blended over `frame` at `at` with `opacity`; the frame keeps its
    alpha (or lack of it), a grey frame becomes colour only when the stamp has colour."""
    from PIL import Image

    if opacity < 1:
        alpha = stamp.getchannel("A").point(lambda level: round(level * opacity))
        stamp = stamp.copy()
        stamp.putalpha(alpha)
    layer = Image.new("RGBA", frame.size, (0, 0, 0, 0))
    layer.paste(stamp, at)
    grey = frame.mode in ("L", "LA") and _is_grey(stamp)
    has_alpha = frame.mode in ("RGBA", "LA")
    below = frame.convert("RGBA")
    blended = Image.alpha_composite(below, layer)
    if has_alpha:
        # Where the frame was transparent the stamp shows as it is; alpha is the union.
        return blended.convert("LA" if grey else "RGBA")
    return blended.convert("L" if grey else "RGB")


def _is_grey(stamp: Image.Image) -> bool:
    red, green, blue = stamp.convert("RGB").split()
    return red.tobytes() == green.tobytes() == blue.tobytes()
