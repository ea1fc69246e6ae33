"""Frames to bytes: per-format quality and speed settings, and the one write.

The output is made from pixels alone: source metadata never reaches it, except the ICC
profile where the format carries one and it still describes the frames, and what a
`metadata` step asks to keep (workers.codec.metadata).
"""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.leash import Deadline
from imgflow.imaging.operations import MAX_SIDE
from workers.codec.animation import MULTI_FRAME_OUTPUTS, sequence_params
from workers.codec.colour import flatten, matching_icc, palette, to_srgb
from workers.codec.geometry import Size

JPEG_QUALITY = 85
WEBP_QUALITY = 80
WEBP_METHOD = 4
AVIF_QUALITY = 60
AVIF_SPEED = 8
"""12 MP photo on 2 cores: speed 6 1.9 s / 269 kB, speed 8 0.9 s / 334 kB (WebP m4: 0.9 s).

Speed 8 keeps AVIF about as costly as WebP; 6 would make it the slowest job type.
"""
PNG_COMPRESS_LEVEL = 3
"""zlib level. PNG encoding dominates the CPU of a job. Measured with
benchmarks/raw_baseline.py on the load test's mix (bench photo_1mp.jpg + photo_2mp.png,
2 threads, 100 jobs x 3): level 6 11.65 jobs/s, level 3 24.26 (2.08x) for +9.9% PNG
bytes, level 1 28.78 (2.47x) for +15.7%. Level 3 buys most of the speed for little
size; clients who want smaller files can re-compress offline."""
PNG_ZLIB_STRATEGY = zlib.Z_RLE
"""After PNG's per-row filters a photo's bytes are mostly runs and small values, which
run-length matching finds as well as zlib's default search, far faster. Measured on
the load test's PNG outputs (bench photo_2mp.png, photo_1mp.jpg -> PNG, level 3, CPU of
one encode): 207 -> 124 ms for 2,295,236 -> 2,075,595 bytes (-9.6%), 70 -> 45 ms for
931,603 -> 863,906 (-7.3%). Over the shared corpus's PNGs and JPEGs written as PNG:
-35% CPU, -3.2% bytes in all; the worst single images grow (a 320x240 photo +19%,
a 12 MP phone photo +14%, a 41-frame APNG +15%), graphics with flat areas shrink
(up to -55%)."""
TIFF_COMPRESSION = "tiff_adobe_deflate"
JXL_QUALITY = 80
JXL_EFFORT = 4
"""bench-images/photo_2mp.png (1448x1448), one thread: effort 4 0.16-0.24 s, 108 kB at
quality 75; effort 7 (libjxl's default) 2.7-3.6 s for 7% fewer bytes. JPEG XL at
effort 4 costs what WebP method 4 does."""

_MAX_SIDES = {ImageFormat.WEBP: 16_383, ImageFormat.JPEG: 65_500}
_NO_ICC = frozenset({ImageFormat.GIF, ImageFormat.BMP, ImageFormat.JXL})
"""Formats written without a profile (the JPEG XL plugin drops it): sRGB pixels instead."""


def encode(
    frames: Sequence[Image.Image],
    durations: Sequence[int],
    loop: int,
    fmt: ImageFormat,
    quality: int | None = None,
    icc: bytes | None = None,
    *,
    png_compress_level: int = PNG_COMPRESS_LEVEL,
    deadline: Deadline | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> bytes:
    """`frames` written as `fmt`, from pixels only.

    Several frames become an animation (GIF, WebP, APNG, AVIF) or pages (TIFF); other
    formats get the first frame. `loop` is a play count, 0 = forever. `quality` only
    affects JPEG, WebP, AVIF and JPEG XL; `png_compress_level` (zlib 0-9) only PNG. The ICC
    profile is embedded where the format carries one and it matches the frames (RGB or
    gray); GIF, BMP and JPEG XL get sRGB pixels instead. `deadline` is checked between
    frames while they are prepared; the encoder then writes them all in one call.
    `metadata`: save options carrying kept source metadata (workers.codec.metadata).
    """
    frames = list(frames) if fmt in MULTI_FRAME_OUTPUTS else list(frames[:1])
    _check_sides(frames[0].size, fmt)
    clock = deadline or Deadline(math.inf)
    if fmt in _NO_ICC:
        frames = [to_srgb(frame, icc) for frame in clock.paced(frames, "colour-managing")]
        icc = None
    frames = [_encodable(frame, fmt) for frame in clock.paced(frames, "preparing")]
    params = _format_params(fmt, quality, matching_icc(frames[0], icc), png_compress_level)
    if len(frames) > 1:
        params.update(sequence_params(frames, durations, loop, fmt))
    params.update(metadata or {})
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt.value, **params)
    return buffer.getvalue()


def _check_sides(size: Size, fmt: ImageFormat) -> None:
    limit = _MAX_SIDES.get(fmt, MAX_SIDE)
    if max(size) > limit:
        raise ImgflowError(
            ErrorCode.INVALID_OPERATION,
            f"{fmt.value} cannot hold a {size[0]}x{size[1]} image (at most {limit} per side)",
        )


def _encodable(frame: Image.Image, fmt: ImageFormat) -> Image.Image:
    if fmt in (ImageFormat.JPEG, ImageFormat.BMP):
        return flatten(frame)
    if fmt is ImageFormat.GIF:
        return palette(frame)
    # WebP has no gray, and AVIF's gray has no alpha: widen here, not in the encoder,
    # so the ICC check below sees the mode that is actually written.
    if (fmt is ImageFormat.WEBP and frame.mode == "L") or (
        fmt in (ImageFormat.WEBP, ImageFormat.AVIF) and frame.mode == "LA"
    ):
        return frame.convert("RGBA" if frame.mode == "LA" else "RGB")
    return frame


def _format_params(
    fmt: ImageFormat, quality: int | None, icc: bytes | None, png_compress_level: int
) -> dict[str, Any]:
    profile: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if fmt is ImageFormat.JPEG:
        # optimize/progressive cost an extra pass for a few percent of bytes
        return {
            "quality": quality or JPEG_QUALITY,
            "optimize": False,
            "progressive": False,
            **profile,
        }
    if fmt is ImageFormat.WEBP:
        return {"quality": quality or WEBP_QUALITY, "method": WEBP_METHOD, **profile}
    if fmt is ImageFormat.AVIF:
        return {"quality": quality or AVIF_QUALITY, "speed": AVIF_SPEED, **profile}
    if fmt is ImageFormat.PNG:
        return {
            "compress_level": png_compress_level,
            "compress_type": PNG_ZLIB_STRATEGY,
            **profile,
        }
    if fmt is ImageFormat.TIFF:
        return {"compression": TIFF_COMPRESSION, **profile}
    if fmt is ImageFormat.JXL:
        # libjxl refuses distance 0 as lossy: quality 100 means lossless
        lossless = {"lossless": True} if quality == 100 else {}
        return {"quality": quality or JXL_QUALITY, "effort": JXL_EFFORT, **lossless}
    return {}
