"""Convolution filters: blur and sharpen."""

from __future__ import annotations

from PIL import Image, ImageFilter

from imgflow.imaging.operations import Blur, Sharpen

_PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}


def blur(image: Image.Image, spec: Blur) -> Image.Image:
    gaussian = ImageFilter.GaussianBlur(spec.radius)
    premultiplied = _PREMULTIPLIED.get(image.mode)
    if premultiplied is None:
        return image.filter(gaussian)
    # Blurring straight alpha drags the colour of invisible pixels (often black) into
    # the visible edge; premultiplied, they weigh nothing.
    return image.convert(premultiplied).filter(gaussian).convert(image.mode)


def sharpen(image: Image.Image, spec: Sharpen) -> Image.Image:
    mask = ImageFilter.UnsharpMask(spec.radius, spec.percent, spec.threshold)
    if image.mode not in _PREMULTIPLIED:
        return image.filter(mask)
    # Sharpening alpha would put halos into the outline; only the colour is sharpened.
    *colour_bands, alpha = image.split()
    colour = Image.merge("RGB", colour_bands) if len(colour_bands) == 3 else colour_bands[0]
    sharpened = colour.filter(mask)
    sharpened.putalpha(alpha)
    return sharpened
