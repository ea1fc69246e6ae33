"""Image formats imgflow accepts and produces."""

from __future__ import annotations

from enum import StrEnum


class ImageFormat(StrEnum):
    """Output (and, except MPO which maps to JPEG, input) formats."""

    JPEG = "JPEG"
    PNG = "PNG"
    WEBP = "WEBP"
    AVIF = "AVIF"
    GIF = "GIF"
    TIFF = "TIFF"
    BMP = "BMP"

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self]


MIME_TYPES = {
    ImageFormat.JPEG: "image/jpeg",
    ImageFormat.PNG: "image/png",
    ImageFormat.WEBP: "image/webp",
    ImageFormat.AVIF: "image/avif",
    ImageFormat.GIF: "image/gif",
    ImageFormat.TIFF: "image/tiff",
    ImageFormat.BMP: "image/bmp",
}

EXTENSIONS = {
    ImageFormat.JPEG: "jpg",
    ImageFormat.PNG: "png",
    ImageFormat.WEBP: "webp",
    ImageFormat.AVIF: "avif",
    ImageFormat.GIF: "gif",
    ImageFormat.TIFF: "tiff",
    ImageFormat.BMP: "bmp",
}


ANIMATED_FORMATS = frozenset({ImageFormat.GIF, ImageFormat.PNG, ImageFormat.WEBP, ImageFormat.AVIF})
"""Formats whose files may hold an animation (each keeps its frames when it is the output)."""
