"""Bytes to frames: which formats are accepted, the checks before any pixel is loaded,
and the read itself, with every Pillow failure turned into an `ImgflowError`."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError, features

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ANIMATED_FORMATS, ImageFormat
from imgflow.imaging.info import ImageLimits
from imgflow.imaging.leash import Deadline, check_frame_pixels
from imgflow.imaging.source import check_frame_sizes, counted_frames, open_as, sniff
from workers.codec.animation import load_frames, plays
from workers.codec.colour import normalise
from workers.codec.geometry import Size, exif_orientation, shrink_on_load, upright, upright_frames
from workers.codec.metadata import SourceMetadata, read_metadata

ShrinkHint = Callable[[Size], Size | None]
"""Given the upright source size, the size the pipeline will scale down to, if any."""

ACCEPTED_FORMATS = {
    "JPEG": ImageFormat.JPEG,
    "MPO": ImageFormat.JPEG,  # camera JPEGs with a gain map or stereo pair
    "PNG": ImageFormat.PNG,
    "GIF": ImageFormat.GIF,
    "WEBP": ImageFormat.WEBP,
    "TIFF": ImageFormat.TIFF,
    "BMP": ImageFormat.BMP,
    "AVIF": ImageFormat.AVIF,
    "HEIF": ImageFormat.HEIF,
    "JXL": ImageFormat.JXL,
}
# What Pillow raises on hostile or damaged data, across its plugins.
_DECODE_ERRORS = (
    OSError,  # includes UnidentifiedImageError
    ValueError,
    TypeError,
    SyntaxError,
    EOFError,
    struct.error,
    LookupError,
    ArithmeticError,
    MemoryError,
    RuntimeError,  # includes RecursionError; the AVIF decoder's way to say "damaged"
    ImageCms.PyCMSError,
)

ImageFile.LOAD_TRUNCATED_IMAGES = False  # never hand out a half-grey image


@dataclass(frozen=True)
class Decoded:
    """An upload as upright frames ready for operations."""

    frames: tuple[Image.Image, ...]
    durations: tuple[int, ...]
    """Per frame, in milliseconds (0 for stills and pages)."""
    loop: int
    """How many times the animation plays; 0 means forever."""
    format: ImageFormat
    icc: bytes | None
    animated: bool
    size: Size
    """Upright size of the source, before any shrink-on-load."""
    exif: Image.Exif
    """The source's EXIF (empty when it has none), for analysis; never written out."""
    metadata: SourceMetadata | None = None
    """Its EXIF and XMP, for a `metadata` step to keep."""


@dataclass(frozen=True)
class Header:
    """What decode knows of a source before loading any pixels."""

    format: ImageFormat
    sizes: tuple[Size, ...]
    """Upright size of each frame (TIFF pages differ; an animation's share its canvas)."""


Plan = Callable[[Header], None]
"""Raises to refuse the source from its header, before any frame is decoded."""


def decode(
    data: bytes,
    limits: ImageLimits,
    shrink: ShrinkHint | None = None,
    *,
    plan: Plan | None = None,
    deadline: Deadline | None = None,
) -> Decoded:
    """Frames of an accepted image; `ImgflowError` for anything else.

    Every size and count the headers declare is checked against `limits` before the
    first frame is loaded, and `plan` may refuse the image from its header too.
    `shrink` lets a JPEG decode at a reduced scale (libjpeg DCT scaling) when the
    pipeline will scale it down anyway; `Decoded.size` still reports the full size.
    `deadline` (by default the limits' time limit from now) is checked between frames.
    """
    if not data:
        raise ImgflowError(ErrorCode.EMPTY_FILE, "the file is empty")
    fmt = _accepted_format(data)
    clock = deadline or Deadline(limits.job_time_limit_seconds)
    try:
        with open_as(data, fmt, limits) as image:
            return _read(image, data, limits, shrink, plan, clock)
    except ImgflowError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own ceiling, hit before our check could run: its message quotes
        # Pillow's limit, not ours, so it is not passed on.
        raise ImgflowError(
            ErrorCode.IMAGE_TOO_LARGE, "the image declares too many pixels to decode safely"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImgflowError(
            ErrorCode.CORRUPT_IMAGE, f"the file starts like a {fmt.value} but cannot be decoded"
        ) from exc
    except _DECODE_ERRORS as exc:
        raise ImgflowError(
            ErrorCode.CORRUPT_IMAGE, f"the image data is damaged or truncated ({exc})"
        ) from exc


def _accepted_format(data: bytes) -> ImageFormat:
    """The sniffed format; anything else never reaches Pillow (EPS would run
    Ghostscript on load, and TGA has no magic number, so it would claim random bytes)."""
    fmt = sniff(data)
    if fmt is None or (fmt is ImageFormat.AVIF and not features.check_module("avif")):
        raise ImgflowError(
            ErrorCode.UNSUPPORTED_FORMAT,
            "not an image in an accepted format "
            "(JPEG, PNG, GIF, WebP, TIFF, BMP, AVIF, JPEG XL, HEIC/HEIF)",
        )
    return fmt


def _read(
    image: ImageFile.ImageFile,
    data: bytes,
    limits: ImageLimits,
    shrink: ShrinkHint | None,
    plan: Plan | None,
    deadline: Deadline,
) -> Decoded:
    fmt = ACCEPTED_FORMATS.get(image.format or "")
    if fmt is None:  # defence in depth; the sniffed plugin alone opened it
        raise ImgflowError(ErrorCode.UNSUPPORTED_FORMAT, f"{image.format} is not accepted")
    check_frame_pixels(image.size, limits, "the image")
    count = counted_frames(image, fmt, data, limits)
    stored = check_frame_sizes(image, fmt, count, limits)
    orientation = exif_orientation(image, fmt)
    exif = _readable_exif(image)  # before any seek: a TIFF's would be its last page's
    size = upright(image.size, orientation)
    if plan is not None:
        plan(Header(fmt, tuple(upright(frame, orientation) for frame in stored)))
    if shrink is not None and fmt is ImageFormat.JPEG:
        shrink_on_load(image, shrink(size), orientation)
    frames, durations = load_frames(image, count, limits, deadline)
    frames, icc = normalise(frames, image.info.get("icc_profile") or None, deadline)
    animated = fmt in ANIMATED_FORMATS and count > 1
    return Decoded(
        frames=upright_frames(frames, orientation, deadline),
        durations=tuple(durations) if animated else (0,) * count,
        loop=plays(image, fmt) if animated else 0,
        format=fmt,
        icc=icc,
        animated=animated,
        size=size,
        exif=exif,
        metadata=read_metadata(image),
    )


def _readable_exif(image: ImageFile.ImageFile) -> Image.Exif:
    """The EXIF, or none when it is damaged: the pixels are still good."""
    try:
        return image.getexif()
    except _DECODE_ERRORS:
        return Image.Exif()
