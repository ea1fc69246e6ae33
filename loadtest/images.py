"""The load test's input images: given files, or synthetic photo-like ones made in memory
(deterministic), each with the upright size the service will report."""

from __future__ import annotations

import argparse
import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

Size = tuple[int, int]


@dataclass(frozen=True)
class InputImage:
    name: str
    data: bytes
    format: str  # JPEG or PNG, as Pillow reads it
    size: Size  # upright, as the service reports it

    @property
    def other_format(self) -> str:
        return "PNG" if self.format == "JPEG" else "JPEG"


def load_image(name: str, data: bytes, expected: str) -> InputImage:
    with Image.open(io.BytesIO(data)) as image:
        fmt, size = str(image.format), image.size
        orientation = image.getexif().get(0x0112, 1)
    # The mix converts each input to "the other" format: a PNG given as --jpeg would
    # silently turn the JPEG half of the mix into a second PNG half.
    if fmt != expected:
        raise ValueError(f"{name}: expected a {expected}, found {fmt}")
    # The service turns images upright first; orientations 5-8 swap the sides.
    upright = (size[1], size[0]) if orientation in (5, 6, 7, 8) else size
    return InputImage(name, data, fmt, upright)


def synthetic_photo(size: Size, seed: int) -> Image.Image:
    """Photo-like pixels: smooth gradients, soft shapes and grain, so encoders work as
    they do on photographs (flat colours would compress unrealistically well)."""
    rng = random.Random(seed)
    width, height = size
    red = Image.linear_gradient("L").resize(size)
    green = Image.radial_gradient("L").resize(size)
    blue = Image.linear_gradient("L").rotate(90).resize(size)
    image = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(image)
    for _ in range(24):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(20, max(21, width // 5))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(6))
    grain = Image.frombytes("L", size, rng.randbytes(width * height)).convert("RGB")
    return Image.blend(image, grain.filter(ImageFilter.GaussianBlur(0.7)), 0.12)


def default_images() -> dict[str, InputImage]:
    jpeg, png = io.BytesIO(), io.BytesIO()
    synthetic_photo((1224, 817), seed=1).save(jpeg, "JPEG", quality=90)
    synthetic_photo((1448, 1448), seed=2).save(png, "PNG")
    return {
        "jpeg": load_image("synthetic 1224x817 JPEG", jpeg.getvalue(), "JPEG"),
        "png": load_image("synthetic 1448x1448 PNG", png.getvalue(), "PNG"),
    }


def choose_images(args: argparse.Namespace) -> list[InputImage]:
    defaults: dict[str, InputImage] | None = None
    chosen = []
    for kind in args.inputs:
        path: Path | None = getattr(args, kind)
        if path is not None:
            chosen.append(load_image(str(path), path.read_bytes(), kind.upper()))
            continue
        defaults = defaults or default_images()
        chosen.append(defaults[kind])
    return chosen
