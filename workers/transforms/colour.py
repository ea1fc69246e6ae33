"""Operations on colour that keep the frame's shape."""

from __future__ import annotations

from PIL import Image

from imgflow.imaging.operations import Grayscale


def grayscale(image: Image.Image, spec: Grayscale) -> Image.Image:
    if image.mode in ("L", "LA"):
        return image
    return image.convert("LA" if image.mode == "RGBA" else "L")
