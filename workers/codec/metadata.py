"""The encoder's side of the `metadata` step: the source's EXIF and XMP as read at
decode, and what of them an output keeps (imgflow.imaging.ops.metadata).

Kept apart from encoding.py on purpose: encode() only merges `metadata_params` into
its save options.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from PIL import Image

from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.ops.metadata import MetadataKeep

EXIF_OUTPUTS = {
    ImageFormat.JPEG,
    ImageFormat.PNG,
    ImageFormat.WEBP,
    ImageFormat.AVIF,
    ImageFormat.TIFF,
}
XMP_OUTPUTS = {ImageFormat.JPEG, ImageFormat.WEBP, ImageFormat.AVIF}
ORIENTATION, ARTIST, COPYRIGHT = 0x0112, 0x013B, 0x8298
SUB_IFDS = (0x8769, 0x8825)  # Exif and GPS: loaded so they are written back
_XMP_ORIENTATION = re.compile(rb"(tiff:Orientation(?:=\"|>))\d")


@dataclass(frozen=True)
class SourceMetadata:
    exif: bytes | None
    xmp: bytes | None


def read_metadata(image: Image.Image) -> SourceMetadata:
    """The source's EXIF and XMP, as they are (cheap: no pixels)."""
    exif = image.getexif()
    xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode()
    return SourceMetadata(exif.tobytes() if len(exif) else None, xmp or None)


def metadata_params(
    fmt: ImageFormat, source: SourceMetadata | None, keep: MetadataKeep
) -> dict[str, Any]:
    """Save options carrying what `keep` keeps and `fmt` can hold; {} for NONE."""
    if source is None or keep is MetadataKeep.NONE:
        return {}
    params: dict[str, Any] = {}
    exif = _kept_exif(source.exif, keep)
    if exif and fmt in EXIF_OUTPUTS:
        params["exif"] = exif
    if keep is MetadataKeep.ALL and source.xmp and fmt in XMP_OUTPUTS:
        # The pixels are upright now: an orientation left in would turn them again.
        params["xmp"] = _XMP_ORIENTATION.sub(rb"\g<1>1", source.xmp)
    return params


def _kept_exif(raw: bytes | None, keep: MetadataKeep) -> bytes | None:
    if raw is None:
        return None
    source = Image.Exif()
    source.load(raw)
    if keep is MetadataKeep.COPYRIGHT:
        kept = Image.Exif()
        for tag in (ARTIST, COPYRIGHT):
            if tag in source:
                kept[tag] = source[tag]
        return kept.tobytes() if len(kept) else None
    for ifd in SUB_IFDS:
        source.get_ifd(ifd)
    if ORIENTATION in source:
        source[ORIENTATION] = 1
    return source.tobytes()
