"""Opening an upload: its real format from the magic bytes, that one Pillow plugin, and
its frames counted from headers. Ingest and the worker's decode both start here, so
they agree on what a file is and how many frames it holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO

import pillow_jxl  # noqa: F401  (importing it registers the JXL plugin with Pillow)
from pi_heif import register_heif_opener
from PIL import Image, ImageFile

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.info import ImageLimits
from imgflow.imaging.jxl import CODESTREAM, CONTAINER, declared_size
from imgflow.imaging.leash import check_frame_pixels, check_total_pixels

Size = tuple[int, int]

# Thumbnails, depth maps and auxiliary images are never output: not parsing them is less
# work and less attack surface. libheif's own security limits stay on.
register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

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
    ImageFormat.HEIF: ["HEIF"],  # pi-heif's plugin (libheif with only an HEVC decoder)
    ImageFormat.JXL: ["JXL"],  # pillow-jxl-plugin's (libjxl)
}
"""The only plugin Pillow may try for each sniffed format. EPS (which runs Ghostscript),
PDF, PS and everything else never get a file: bytes that sniff as none of these are
refused before Pillow sees them."""

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
HEIF_MAJOR_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
)
"""The major brands pi-heif's plugin opens (an AVIF also lists mif1: AVIF is sniffed first)."""
_MAX_BRANDS = 64
"""A real ftyp box lists a handful of brands; don't walk a hostile one further."""


def sniff(data: bytes) -> ImageFormat | None:
    """The real format from the magic bytes alone; None for anything not accepted."""
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageFormat.WEBP
    if data.startswith((CODESTREAM, CONTAINER)):
        return ImageFormat.JXL
    brands = ftyp_brands(data)
    if _AVIF_BRANDS & set(brands):
        return ImageFormat.AVIF
    if brands and brands[0] in HEIF_MAJOR_BRANDS:
        return ImageFormat.HEIF
    return None


def ftyp_brands(data: bytes) -> list[bytes]:
    """Major and compatible brands of an ISO-BMFF `ftyp` box at the start, else []."""
    if data[4:8] != b"ftyp":
        return []
    size = int.from_bytes(data[:4], "big")
    if size == 0:  # the box runs to the end of the file
        size = len(data)
    end = min(size, len(data), 16 + 4 * _MAX_BRANDS)
    compatible = [data[i : i + 4] for i in range(16, end - 3, 4)]
    return [data[8:12], *compatible]


def open_as(data: bytes, fmt: ImageFormat, limits: ImageLimits) -> ImageFile.ImageFile:
    """Header-only open with the sniffed format's plugin and no other.

    The JPEG XL plugin decodes the whole image as it opens it: its size is read and
    checked from the codestream's header first, and held to what was decoded after."""
    if fmt is not ImageFormat.JXL:
        return Image.open(BytesIO(data), formats=PILLOW_PLUGINS[fmt])
    stored = declared_size(data)
    check_frame_pixels(stored, limits, "the image")
    image = _open_jxl(data)
    if image.size not in (stored, stored[::-1]):  # turned by its orientation, or lying
        image.close()
        raise ImgflowError(
            ErrorCode.CORRUPT_IMAGE,
            f"the JXL header declares {stored[0]}x{stored[1]} but the image is "
            f"{image.width}x{image.height}",
        )
    return image


def _open_jxl(data: bytes) -> ImageFile.ImageFile:
    try:
        return Image.open(BytesIO(data), formats=PILLOW_PLUGINS[ImageFormat.JXL])
    except Exception:
        raise
    except BaseException as exc:
        # The plugin is Rust: a panic inside it reaches Python as pyo3's PanicException,
        # a BaseException that no `except Exception` would stop. It is the file's fault.
        if type(exc).__name__ != "PanicException":
            raise
        raise ValueError(f"the JPEG XL decoder gave up ({exc})") from exc


def exif_orientation_applies(image: Image.Image, fmt: ImageFormat) -> bool:
    """Whether the EXIF/XMP orientation says how to turn this image. Not for HEIF, whose
    irot/imir boxes libheif applies, nor JPEG XL, whose own orientation libjxl applies
    (its EXIF copy is to be ignored), except a JPEG XL holding a losslessly recompressed
    JPEG: that is loaded as the JPEG, whose EXIF says how to turn it."""
    if fmt is ImageFormat.JXL:
        return bool(getattr(image, "jpeg", False))
    return fmt is not ImageFormat.HEIF


def counted_frames(
    image: ImageFile.ImageFile, fmt: ImageFormat, data: bytes, limits: ImageLimits
) -> int:
    """Frames the file holds, from headers, refused over the limit before any is decoded.

    GIF, TIFF, WebP, AVIF and HEIF counts come from walking the file (Pillow, libwebp,
    libavif, libheif); an APNG's count is only what its acTL chunk claims, so its frame control
    chunks are counted too: a file claiming 2 frames while holding 5000 is refused. (One
    claimed frame makes it a still image: Pillow never decodes the others.)"""
    if fmt is ImageFormat.JPEG:
        return 1  # an MPO's extra images are previews or gain maps, not frames
    declared = int(getattr(image, "n_frames", 1))
    if fmt is ImageFormat.HEIF:
        # A HEIF's other top-level images are bursts or alternates, not an animation:
        # only the primary image is processed, but a file listing thousands is refused.
        _check_frame_count(declared, limits)
        return 1
    held = _apng_frames(data) if fmt is ImageFormat.PNG and declared > 1 else declared
    count = max(declared, held)
    _check_frame_count(count, limits)
    if held > declared:
        raise ImgflowError(
            ErrorCode.CORRUPT_IMAGE,
            f"the animation declares {declared} frames but holds {held}",
        )
    return count


def _check_frame_count(count: int, limits: ImageLimits) -> None:
    if count > limits.max_frames:
        raise ImgflowError(
            ErrorCode.TOO_MANY_FRAMES,
            f"the image has {count} frames; the limit is {limits.max_frames}",
        )


def check_frame_sizes(
    image: ImageFile.ImageFile, fmt: ImageFormat, count: int, limits: ImageLimits
) -> list[Size]:
    """Each frame's stored size as its header declares it, checked one by one and all
    together before any is loaded. TIFF pages each have their own size (read from their
    IFDs, no pixels): a small first page can hide a bomb. Other formats' frames share
    the canvas (a GIF frame that grows it is caught again by the decoder, as it is
    loaded)."""
    if fmt is not ImageFormat.TIFF or count == 1:
        width, height = image.size
        check_total_pixels(count * width * height, limits, f"the {count} frames")
        return [image.size] * count
    sizes = []
    for page in range(count):
        image.seek(page)
        check_frame_pixels(image.size, limits, f"page {page + 1}")
        sizes.append(image.size)
    image.seek(0)
    check_total_pixels(sum(w * h for w, h in sizes), limits, f"the {count} pages")
    return sizes


def _apng_frames(data: bytes) -> int:
    return sum(1 for kind, _, _ in png_chunks(data) if kind == b"fcTL")


def png_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(type, data start, data end) of each chunk, by the length fields; no CRC check."""
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        yield kind, pos + 8, min(pos + 8 + length, len(data))
        if kind == b"IEND":
            return
        pos += 12 + length
