"""Helpers for tests that judge images by what they look like.

Pictures are built on the fly; references are computed with numpy, independently of
the Pillow calls under test.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageCms
from skimage.metrics import structural_similarity

RED = (220, 30, 30)
GREEN = (30, 200, 40)
BLUE = (30, 40, 220)
YELLOW = (240, 220, 20)
WHITE = (255, 255, 255)

Pixels = np.ndarray


def quadrants(width: int = 64, height: int = 48) -> Image.Image:
    """Red, green / blue, yellow: every rotation and mirror of it looks different."""
    pixels = np.zeros((height, width, 3), np.uint8)
    half_h, half_w = height // 2, width // 2
    pixels[:half_h, :half_w] = RED
    pixels[:half_h, half_w:] = GREEN
    pixels[half_h:, :half_w] = BLUE
    pixels[half_h:, half_w:] = YELLOW
    return Image.fromarray(pixels)


def with_alpha(image: Image.Image, alpha: Pixels) -> Image.Image:
    rgba = image.convert("RGBA")
    rgba.putalpha(Image.fromarray(alpha.astype(np.uint8)))
    return rgba


def pixels(image: Image.Image) -> Pixels:
    return np.asarray(image)


def similarity(a: Image.Image | Pixels, b: Image.Image | Pixels) -> float:
    """SSIM over RGB (alpha ignored), both inputs at the same size."""
    first, second = _rgb(a), _rgb(b)
    assert first.shape == second.shape, f"{first.shape} != {second.shape}"
    return float(structural_similarity(first, second, channel_axis=2, data_range=255))


def _rgb(image: Image.Image | Pixels) -> Pixels:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    return image if image.ndim == 3 else np.stack([image] * 3, axis=2)


def colour_at(image: Image.Image, x: int, y: int) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(image.convert("RGBA"))[y, x])


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))


def to_bytes(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def open_bytes(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def frames_of(data: bytes) -> list[Image.Image]:
    image = Image.open(io.BytesIO(data))
    frames = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        frames.append(image.convert("RGBA"))
    return frames


def durations_of(data: bytes) -> list[int]:
    image = Image.open(io.BytesIO(data))
    durations = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        image.load()
        durations.append(int(image.info.get("duration", 0)))
    return durations


# Orientation N stores the picture so that the viewer must apply transform N to see it
# upright; these undo that, written from the EXIF definitions with numpy.
_STORED = {
    1: lambda a: a,
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, 1),
    7: lambda a: np.rot90(np.swapaxes(a, 0, 1), 2),
    8: lambda a: np.rot90(a, -1),
}


def oriented_jpeg(upright: Image.Image, orientation: int) -> bytes:
    """A JPEG whose EXIF orientation turns its stored pixels into `upright`."""
    stored = Image.fromarray(np.ascontiguousarray(_STORED[orientation](np.asarray(upright))))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return to_bytes(stored, "JPEG", quality=95, subsampling=0, exif=exif)


def srgb_profile() -> bytes:
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def swapped_profile() -> bytes:
    """sRGB with the red and blue primaries exchanged: converting to sRGB swaps R and B."""
    data = bytearray(srgb_profile())
    (count,) = struct.unpack(">I", data[128:132])
    entries = {bytes(data[132 + 12 * i : 136 + 12 * i]): 132 + 12 * i for i in range(count)}
    red, blue = entries[b"rXYZ"], entries[b"bXYZ"]
    data[red + 4 : red + 12], data[blue + 4 : blue + 12] = (
        data[blue + 4 : blue + 12],
        data[red + 4 : red + 12],
    )
    return bytes(data)


def png_with_size(width: int, height: int) -> bytes:
    """A PNG header declaring width x height, with one tiny IDAT: a bomb's calling card."""
    data = bytearray(to_bytes(Image.new("L", (1, 1)), "PNG"))
    ihdr = 8 + 8  # signature, then chunk length and type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", zlib.crc32(data[ihdr - 4 : ihdr + 13]))
    return bytes(data)


def animated_gif(frames: int = 4, size: tuple[int, int] = (40, 30)) -> bytes:
    """A looping GIF whose frames cycle through the four quadrant colours."""
    colours = [RED, GREEN, BLUE, YELLOW]
    images = [Image.new("RGB", size, colours[i % 4]) for i in range(frames)]
    return to_bytes(images[0], "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
