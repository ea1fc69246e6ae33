"""flip: mirror the image left to right or top to bottom."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

from imgflow.imaging.flagtext import fail
from imgflow.imaging.step import Flag, Step, param

if TYPE_CHECKING:
    from PIL import Image


class FlipDirection(StrEnum):
    """Which way to mirror."""

    HORIZONTAL = "HORIZONTAL"
    """Mirror left to right."""
    VERTICAL = "VERTICAL"
    """Mirror top to bottom."""


def _flip_flag(text: str) -> dict[str, str]:
    direction = text.strip().upper()
    if direction not in FlipDirection.__members__:
        raise fail(f"expected horizontal or vertical, got {text!r}")
    return {"direction": direction}


@dataclass(frozen=True)
class Flip(Step):
    """Mirror the image."""

    name: ClassVar[str] = "flip"
    rank: ClassVar[int] = 60
    label: ClassVar[str] = "Flip"
    flag: ClassVar[Flag | None] = Flag("horizontal|vertical", "mirror the image", _flip_flag)

    direction: FlipDirection = param(initial=FlipDirection.HORIZONTAL)

    def apply(self, frame: Image.Image) -> Image.Image:
        from PIL import Image

        if self.direction is FlipDirection.HORIZONTAL:
            return frame.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return frame.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
