"""Image formats imgflow accepts and produces."""

from __future__ import annotations

from enum import StrEnum


class ImageFormat(StrEnum):
    """What an image is: every accepted input (MPO counts as JPEG) and every output."""

    JPEG = "JPEG"
    PNG = "PNG"
    WEBP = "WEBP"
    AVIF = "AVIF"
    GIF = "GIF"
    TIFF = "TIFF"
    BMP = "BMP"
    JXL = "JXL"
    """JPEG XL."""
    HEIF = "HEIF"
    """HEIC/HEIF (iPhone photos): read only; HEVC encoders need a patent licence."""

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self]


class OutputFormat(StrEnum):
    """What `convert` may ask for: a format imgflow writes, or AUTO to let it choose."""

    JPEG = "JPEG"
    PNG = "PNG"
    WEBP = "WEBP"
    AVIF = "AVIF"
    GIF = "GIF"
    TIFF = "TIFF"
    BMP = "BMP"
    JXL = "JXL"
    AUTO = "AUTO"
    """The smallest of WebP, AVIF and JPEG at the quality asked; PNG instead of JPEG when
    the image has alpha or is flat colour; WebP and AVIF only for an animation."""


WRITABLE_FORMATS = tuple(
    ImageFormat(fmt.value) for fmt in OutputFormat if fmt is not OutputFormat.AUTO
)
"""The formats `encode` writes (every one but HEIF)."""

MIME_TYPES = {
    ImageFormat.JPEG: "image/jpeg",
    ImageFormat.PNG: "image/png",
    ImageFormat.WEBP: "image/webp",
    ImageFormat.AVIF: "image/avif",
    ImageFormat.GIF: "image/gif",
    ImageFormat.TIFF: "image/tiff",
    ImageFormat.BMP: "image/bmp",
    ImageFormat.JXL: "image/jxl",
    ImageFormat.HEIF: "image/heif",
}

EXTENSIONS = {
    ImageFormat.JPEG: "jpg",
    ImageFormat.PNG: "png",
    ImageFormat.WEBP: "webp",
    ImageFormat.AVIF: "avif",
    ImageFormat.GIF: "gif",
    ImageFormat.TIFF: "tiff",
    ImageFormat.BMP: "bmp",
    ImageFormat.JXL: "jxl",
    ImageFormat.HEIF: "heic",
}


ANIMATED_FORMATS = frozenset({ImageFormat.GIF, ImageFormat.PNG, ImageFormat.WEBP, ImageFormat.AVIF})
"""Formats whose files may hold an animation (each keeps its frames when it is the output)."""

LOSSY_FORMATS = frozenset({ImageFormat.JPEG, ImageFormat.WEBP, ImageFormat.AVIF, ImageFormat.JXL})
"""Formats whose size `convert.quality` trades for fidelity (and `maxBytes` bisects)."""

READ_ONLY_FALLBACK = ImageFormat.JPEG
"""The output of a source imgflow cannot write (HEIF) when no `convert` says otherwise:
what iPhones themselves export, and readable everywhere."""


def written_as(fmt: ImageFormat) -> ImageFormat:
    """The format an unconverted source is written in: its own, if imgflow can write it."""
    return READ_ONLY_FALLBACK if fmt is ImageFormat.HEIF else fmt
