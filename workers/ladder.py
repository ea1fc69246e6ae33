"""Width ladders: a still job's fit-inside resizes made from one another, largest first.

A srcset (320 ... 2560 px from a 12 MP photo) resizes one image to several smaller
sizes. Each from the full-size image costs a pass over all its pixels; each from the
smallest image already made that covers it costs a pass over far fewer. Only large
targets (LADDER_MIN_PIXELS) climb: a small one from the full image is cheap already
(reducing_gap box-reduces first), and there a second LANCZOS pass shows on sharp
edges (SSIM 0.984 against a direct render for a 120 px thumbnail from a 300 px rung).

Measured here, each rung against its resize from the full image, SSIM: 2560 -> 1920
and 1920 -> 1280 on bench-images/photo_12mp.jpg 0.997 and 0.998, on mosaic_12mp.jpg
0.998 and 0.999, on a synthetic 4000x3000 of gradients and hard-edged shapes 0.9995.
CPU of the resizes for widths 2560, 1920, 1280, 640, 320 of photo_12mp.jpg: 0.50 s
each from the full image, 0.34 s with 1920 and 1280 climbing.
"""

from __future__ import annotations

from PIL import Image

from imgflow.imaging.operations import ForceResize, Operation, Resize
from imgflow.imaging.sizes import Size, fitted_size
from workers import transforms

LADDER_MIN_PIXELS = 1_000_000
"""Targets smaller than this are resized from the prefix's image."""


class Ladder:
    """The prefix's still image and the fit-inside resizes made from it so far."""

    def __init__(self, base: Image.Image) -> None:
        self.base = base
        self.rungs: list[Image.Image] = []

    def fit(self, step: Resize) -> Image.Image:
        """`base` resized as `step` asks, from the smallest rung that covers a large
        target."""
        target = fitted_size(self.base.size, step)
        covering = [r for r in self.rungs if r.width >= target[0] and r.height >= target[1]]
        if target[0] * target[1] < LADDER_MIN_PIXELS:
            covering = []
        source = min(covering, key=_area, default=self.base)
        image = transforms.apply(source, ForceResize(*target))  # the size planned from base
        self.rungs.append(image)
        return image


def first_fit(steps: list[Operation]) -> Resize | None:
    """The fit-inside resize an output's own pixel steps start with, if they do."""
    first = steps[0] if steps else None
    return first if isinstance(first, Resize) else None


def largest_first(base: Size, outputs: list[list[Operation]]) -> list[int]:
    """The order to make outputs in: those that do not climb first (they need the full
    image anyway), then the climbing ones from the largest resize down."""

    def key(index: int) -> tuple[int, int]:
        fit = first_fit(outputs[index])
        return (0, 0) if fit is None else (1, -_area_of(fitted_size(base, fit)))

    return sorted(range(len(outputs)), key=key)


def _area(image: Image.Image) -> int:
    return _area_of(image.size)


def _area_of(size: Size) -> int:
    return size[0] * size[1]
