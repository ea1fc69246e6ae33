"""The checks the API runs before it accepts a job: what the file really is, how big it
is, and how big the pipeline would make it.

This sits on the request path, so it reads headers only and never decodes pixels.
Damage the header does not reveal (a truncated JPEG, a broken later GIF frame) passes
here and is caught by the worker's full decode, which fails the job with CORRUPT_IMAGE.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from io import BytesIO

from PIL import ExifTags, Image, ImageFile, PngImagePlugin, UnidentifiedImageError, features

from imgflow.errors import ErrorCode, ImgflowError
from workers.formats import ImageFormat
from workers.info import ImageInfo, Limits
from workers.operations import MAX_SIDE, Operation
from workers.ops import output_size

log = logging.getLogger(__name__)

ACCEPTED = "only JPEG, PNG, GIF, WebP, TIFF, BMP and AVIF are accepted"

PILLOW_PLUGINS: dict[ImageFormat, list[str]] = {
    # The JPEG plugin itself returns an MpoImageFile (format "MPO") for camera JPEGs with
    # an MPF gain map or preview. "MPO" has no opener of its own: listing it here makes
    # Image.open raise KeyError once JPEG has refused the file.
    ImageFormat.JPEG: ["JPEG"],
    ImageFormat.PNG: ["PNG"],
    ImageFormat.GIF: ["GIF"],
    ImageFormat.WEBP: ["WEBP"],
    ImageFormat.TIFF: ["TIFF"],
    ImageFormat.BMP: ["BMP"],
    ImageFormat.AVIF: ["AVIF"],
}
"""The only plugins Pillow may try for each sniffed format (never EPS: that runs Ghostscript)."""

_MAGIC: list[tuple[bytes, ImageFormat]] = [
    (b"\xff\xd8\xff", ImageFormat.JPEG),
    (b"\x89PNG\r\n\x1a\n", ImageFormat.PNG),
    (b"GIF87a", ImageFormat.GIF),
    (b"GIF89a", ImageFormat.GIF),
    (b"II*\x00", ImageFormat.TIFF),
    (b"MM\x00*", ImageFormat.TIFF),
    (b"II+\x00", ImageFormat.TIFF),  # BigTIFF
    (b"MM\x00+", ImageFormat.TIFF),  # BigTIFF
    (b"BM", ImageFormat.BMP),
]

_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
_MAX_BRANDS = 64
"""A real ftyp box lists a handful of brands; don't walk a hostile one further."""

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


def sniff(data: bytes) -> ImageFormat | None:
    """The real format from the magic bytes alone; None for anything not accepted."""
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageFormat.WEBP
    if _AVIF_BRANDS & set(_ftyp_brands(data)):
        return ImageFormat.AVIF
    return None


def _ftyp_brands(data: bytes) -> list[bytes]:
    """Major and compatible brands of an ISO-BMFF `ftyp` box at the start, else []."""
    if data[4:8] != b"ftyp":
        return []
    size = int.from_bytes(data[:4], "big")
    if size == 0:  # the box runs to the end of the file
        size = len(data)
    end = min(size, len(data), 16 + 4 * _MAX_BRANDS)
    compatible = [data[i : i + 4] for i in range(16, end - 3, 4)]
    return [data[8:12], *compatible]


def probe(data: bytes, limits: Limits) -> ImageInfo:
    """Identify the upload and check it against the limits, reading headers only."""
    if not data:
        raise ImgflowError(ErrorCode.EMPTY_FILE, "the file is empty")
    fmt = sniff(data)
    if fmt is None:
        raise ImgflowError(ErrorCode.UNSUPPORTED_FORMAT, _unsupported_message(data))
    if fmt is ImageFormat.AVIF and not features.check_module("avif"):
        raise ImgflowError(ErrorCode.UNSUPPORTED_FORMAT, "AVIF support is not installed")
    try:
        with Image.open(BytesIO(data), formats=PILLOW_PLUGINS[fmt]) as image:
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
    if _HEIF_BRANDS & set(_ftyp_brands(data)):
        return "HEIC/HEIF"
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
    image: ImageFile.ImageFile, fmt: ImageFormat, data: bytes, limits: Limits
) -> ImageInfo:
    width, height = image.size
    _check_source_pixels(width, height, limits)
    # Read orientation before walking frames: a TIFF's EXIF belongs to its current page.
    if _orientation(image, data) in (5, 6, 7, 8):
        width, height = height, width
    frames = _frame_count(image, fmt)
    if frames > limits.max_frames:
        raise ImgflowError(
            ErrorCode.TOO_MANY_FRAMES,
            f"the image has {frames} frames; the limit is {limits.max_frames}",
        )
    if fmt is ImageFormat.TIFF and frames > 1:
        _check_tiff_pages(image, frames, limits)
    return ImageInfo(format=fmt, width=width, height=height, frames=frames, bytes=len(data))


def _frame_count(image: ImageFile.ImageFile, fmt: ImageFormat) -> int:
    if fmt is ImageFormat.JPEG:
        return 1  # an MPO's extra images are previews or gain maps, not frames
    return int(getattr(image, "n_frames", 1))


def pixel_limit(limits: Limits) -> int:
    """The service limit, never above Pillow's own bomb threshold.

    Pillow only warns between MAX_IMAGE_PIXELS and twice that. Refusing at the threshold
    ourselves treats the warning as an error without touching the process-wide warnings
    filters, which other threads in the image pool share.
    """
    pillow_limit = Image.MAX_IMAGE_PIXELS
    return limits.max_pixels if pillow_limit is None else min(limits.max_pixels, pillow_limit)


def _check_source_pixels(width: int, height: int, limits: Limits) -> None:
    limit = pixel_limit(limits)
    if width * height > limit:
        raise ImgflowError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"the image is {width} x {height} ({width * height:,} pixels); "
            f"the limit is {limit:,} pixels",
        )


def _check_tiff_pages(image: ImageFile.ImageFile, frames: int, limits: Limits) -> None:
    """Pages of a TIFF each have their own size: a small first page can hide a bomb."""
    for page in range(1, frames):
        image.seek(page)  # reads the page's IFD, not its pixels
        _check_source_pixels(*image.size, limits)
    image.seek(0)


def _orientation(image: ImageFile.ImageFile, data: bytes) -> int:
    """EXIF (or XMP) orientation 1-8; anything else means upright, as exif_transpose does."""
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
    for kind, start, end in _png_chunks(data):
        if kind == b"eXIf":
            return data[start:end]
    return None


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(type, data start, data end) of each chunk, by the length fields; no CRC check."""
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        yield kind, pos + 8, min(pos + 8 + length, len(data))
        if kind == b"IEND":
            return
        pos += 12 + length


def check_pipeline(source: ImageInfo, operations: Sequence[Operation], limits: Limits) -> None:
    """Refuse a pipeline whose crop falls outside the image or whose steps grow too big.

    Sizes come from `workers.ops.output_size`, the same rule the worker applies, so what
    is accepted here is exactly what the worker will produce."""
    limit = pixel_limit(limits)
    size = (source.width, source.height)
    for number, op in enumerate(operations, start=1):
        try:
            size = output_size(size, op)
        except ImgflowError as error:
            raise ImgflowError(error.code, f"step {number}: {error.message}") from None
        width, height = size
        if width * height > limit or max(size) > MAX_SIDE:
            raise ImgflowError(
                ErrorCode.IMAGE_TOO_LARGE,
                f"{op.name} (step {number}): the output would be {width} x {height} "
                f"({width * height:,} pixels); the limit is {limit:,} pixels "
                f"and {MAX_SIDE} per side",
            )


def planned_size(width: int, height: int, operations: Sequence[Operation]) -> tuple[int, int]:
    """The size after the whole pipeline, from the upright source size."""
    size = (width, height)
    for op in operations:
        size = output_size(size, op)
    return size
