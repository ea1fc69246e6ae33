"""The analysis of a decoded source (`analyze: true`): read from the upright first frame
the decode already made, never from a second decode. Each figure comes from the library
people compare it with: blurhash-python, imagehash, Pillow's quantizer.
"""

from __future__ import annotations

import blurhash
from PIL import Image

from imgflow.imaging.analysis import BLURHASH_COMPONENTS, MAX_DOMINANT_COLOURS, Analysis
from workers.codec import Decoded
from workers.codec.camera import camera_facts

BLURHASH_SIDE = 64
"""A BlurHash keeps 4x3 cosine components: a 64-pixel thumbnail gives the same string's
colours within rounding at a fraction of the cost (blurhash-python walks every pixel
in Python)."""
PALETTE_SIDE = 128
"""Colours are counted on a thumbnail this size: shares of the picture, not detail."""


def analyze(decoded: Decoded, *, expose_gps: bool) -> Analysis:
    # imagehash and numpy load here, not when the module does: a process that never
    # analyses (every API process, most workers) starts 0.1 s of CPU sooner without them.
    import imagehash

    frame = decoded.frames[0]
    small = thumbnail(frame, PALETTE_SIDE)
    return Analysis(
        blurhash=placeholder(small),
        dominant_colours=dominant_colours(small),
        phash=str(imagehash.phash(frame)),  # from the full frame, as imagehash is used
        has_alpha=frame.mode in ("RGBA", "LA"),
        animated=decoded.animated,
        frames=len(decoded.frames),
        exif=camera_facts(decoded.exif, expose_gps=expose_gps),
    )


def thumbnail(frame: Image.Image, side: int) -> Image.Image:
    """A new RGBA image fitting `side` (Pillow's reducing gap: a 12 MP frame in ~10 ms)."""
    scale = min(side / frame.width, side / frame.height, 1.0)
    size = (max(1, round(frame.width * scale)), max(1, round(frame.height * scale)))
    return frame.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0).convert("RGBA")


def placeholder(frame: Image.Image) -> str:
    small = thumbnail(frame, BLURHASH_SIDE).convert("RGB")  # blurhash-python closes it
    across, down = BLURHASH_COMPONENTS
    return str(blurhash.encode(small, across, down))


def dominant_colours(frame: Image.Image) -> tuple[str, ...]:
    """Up to five colours, the one covering most of the picture first. Transparent
    pixels are not part of the picture, so they are left out of the count."""
    import numpy as np

    rgba = np.asarray(thumbnail(frame, PALETTE_SIDE))
    visible = rgba[rgba[..., 3] > 0][:, :3]
    if not len(visible):
        return ()
    strip = Image.fromarray(np.ascontiguousarray(visible.reshape(1, -1, 3)), "RGB")
    quantized = strip.quantize(MAX_DOMINANT_COLOURS, Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    counts = sorted(quantized.getcolors() or [], reverse=True)
    indexes = [int(index) for _, index in counts]  # type: ignore[call-overload]  # P mode: ints
    return tuple("#{:02x}{:02x}{:02x}".format(*palette[3 * i : 3 * i + 3]) for i in indexes)
