"""The checks the API runs before it accepts a job: what the file really is, how big it
is, and how big the pipeline would make it.

This sits on the request path, so it reads headers only and never decodes pixels.
Damage the header does not reveal (a truncated JPEG, a broken later GIF frame) passes
here and is caught by the worker's full decode, which fails the job with CORRUPT_IMAGE.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PIL import ExifTags, Image, ImageFile, PngImagePlugin, UnidentifiedImageError, features

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.info import ImageInfo, ImageLimits
from imgflow.imaging.jxl import read_header
from imgflow.imaging.leash import check_frame_pixels, pixel_limit
from imgflow.imaging.operations import Operation
from imgflow.imaging.outputs import Output, fit_widths
from imgflow.imaging.planning import (
    check_outputs,
    check_plan,
    kept_frames,
    output_target,
    prefix_width,
)
from imgflow.imaging.sizes import output_size
from imgflow.imaging.source import (
    PILLOW_PLUGINS,
    check_frame_sizes,
    counted_frames,
    exif_orientation_applies,
    ftyp_brands,
    open_as,
    png_chunks,
    sniff,
)

__all__ = [
    "PILLOW_PLUGINS",
    "check_job",
    "check_pipeline",
    "pixel_limit",
    "planned_size",
    "probe",
    "sniff",
]

log = logging.getLogger(__name__)

ACCEPTED = "only JPEG, PNG, GIF, WebP, TIFF, BMP, AVIF, JPEG XL and HEIC/HEIF are accepted"

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})

_LOOKALIKES: list[tuple[bytes, str]] = [
    (b"%PDF", "a PDF document"),
    (b"%!", "PostScript/EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS (DOS binary header)"),
    (b"8BPS", "a Photoshop PSD"),
    (b"\x00\x00\x01\x00", "an ICO icon"),
    (b"\x00\x00\x02\x00", "a CUR cursor"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream"),
    (b"\x1f\x8b", "gzip data (SVGZ?)"),
]


def probe(data: bytes, limits: ImageLimits) -> ImageInfo:
    """Identify the upload and check it against the limits, reading headers only."""
    if not data:
        raise ImgflowError(ErrorCode.EMPTY_FILE, "the file is empty")
    fmt = sniff(data)
    if fmt is None:
        raise ImgflowError(ErrorCode.UNSUPPORTED_FORMAT, _unsupported_message(data))
    if fmt is ImageFormat.AVIF and not features.check_module("avif"):
        raise ImgflowError(ErrorCode.UNSUPPORTED_FORMAT, "AVIF support is not installed")
    try:
        if fmt is ImageFormat.JXL:
            return _inspect_jxl(data, limits)
        with open_as(data, fmt, limits) as image:
            return _inspect(image, fmt, data, limits)
    except ImgflowError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning arrives as an exception only when a warnings filter says "error".
        raise ImgflowError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"the image declares far more than the limit of {pixel_limit(limits):,} pixels",
        ) from exc
    except Exception as exc:
        # Pillow's parsers raise almost any type on hostile input (OSError, ValueError,
        # TypeError, SyntaxError, struct.error, IndexError, ...). All of it is the file's
        # fault, and only Pillow calls on this one image run inside this block.
        log.debug("probe rejected a %s file: %r", fmt.value, exc)
        raise ImgflowError(
            ErrorCode.CORRUPT_IMAGE, f"the {fmt.value} file is damaged: {_reason(exc)}"
        ) from exc


def _unsupported_message(data: bytes) -> str:
    what = _lookalike(data)
    if what is None:
        return f"the file is not a recognised image; {ACCEPTED}"
    return f"the file looks like {what}; {ACCEPTED}"


def _lookalike(data: bytes) -> str | None:
    """A name for the common things people upload instead of an accepted image."""
    for magic, name in _LOOKALIKES:
        if data.startswith(magic):
            return name
    if _HEIF_BRANDS & set(ftyp_brands(data)):
        return "a HEIF variant imgflow does not read"
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head.startswith(b"<"):
        return None
    if b"<svg" in head:
        return "SVG"
    if b"<html" in head or b"<!doctype html" in head:
        return "HTML"
    return "XML/HTML"


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "its header cannot be read"  # Pillow's text names only a BytesIO object
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _inspect(
    image: ImageFile.ImageFile, fmt: ImageFormat, data: bytes, limits: ImageLimits
) -> ImageInfo:
    width, height = image.size
    check_frame_pixels(image.size, limits, "the image")
    # Read orientation before walking frames: a TIFF's EXIF belongs to its current page.
    if _orientation(image, fmt, data) in (5, 6, 7, 8):
        width, height = height, width
    frames = counted_frames(image, fmt, data, limits)
    check_frame_sizes(image, fmt, frames, limits)
    return ImageInfo(format=fmt, width=width, height=height, frames=frames, bytes=len(data))


def _inspect_jxl(data: bytes, limits: ImageLimits) -> ImageInfo:
    """From the codestream's header alone: the JPEG XL plugin would decode every pixel.
    Its animations are not read (the worker keeps the first frame)."""
    header = read_header(data)
    check_frame_pixels((header.width, header.height), limits, "the image")
    width, height = header.upright
    return ImageInfo(format=ImageFormat.JXL, width=width, height=height, frames=1, bytes=len(data))


def _orientation(image: ImageFile.ImageFile, fmt: ImageFormat, data: bytes) -> int:
    """EXIF (or XMP) orientation 1-8; anything else means upright, as exif_transpose does."""
    if not exif_orientation_applies(image, fmt):
        return 1  # the plugin loads the image upright by itself
    value = _exif(image, data).get(ExifTags.Base.Orientation, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _exif(image: ImageFile.ImageFile, data: bytes) -> Image.Exif:
    if not isinstance(image, PngImagePlugin.PngImageFile):
        return image.getexif()
    # PngImageFile.getexif() decodes the whole image when no eXIf chunk precedes IDAT,
    # to find one after it. Find that chunk ourselves and use the header-only reader.
    if "exif" not in image.info and (late := _png_exif_chunk(data)) is not None:
        image.info["exif"] = late
    return Image.Image.getexif(image)


def _png_exif_chunk(data: bytes) -> bytes | None:
    for kind, start, end in png_chunks(data):
        if kind == b"eXIf":
            return data[start:end]
    return None


def check_pipeline(source: ImageInfo, operations: Sequence[Operation], limits: ImageLimits) -> None:
    """Refuse a pipeline whose crop falls outside the image or any of whose steps (the
    intermediate ones too) would grow too big, per frame or across the frames kept.

    This is `imgflow.imaging.planning.check_plan`, which the worker runs again from the headers
    before any pixel work: what is accepted here is what the worker will produce. The
    one difference: here every frame is taken at the first frame's size, which the
    worker corrects for TIFF pages of other sizes (refusing before decoding them)."""
    target = output_target(operations, source.format)
    frames = kept_frames(source.format, source.frames, target.format)
    check_plan([(source.width, source.height)] * frames, operations, limits)


def check_job(
    source: ImageInfo, prefix: Sequence[Operation], outputs: Sequence[Output], limits: ImageLimits
) -> tuple[list[Output], list[int]]:
    """The job's outputs fitted to the source (srcset widths wider than the prefix's
    image left out, and listed), once the whole job passed `check_outputs` from the
    source's size, as `check_pipeline` does for one pipeline."""
    fitted, skipped = fit_widths(outputs, prefix_width((source.width, source.height), prefix))
    sizes = [(source.width, source.height)] * source.frames
    check_outputs(sizes, source.format, prefix, fitted, limits)
    return fitted, skipped


def planned_size(width: int, height: int, operations: Sequence[Operation]) -> tuple[int, int]:
    """The size after the whole pipeline, from the upright source size."""
    size = (width, height)
    for op in operations:
        size = output_size(size, op)
    return size
