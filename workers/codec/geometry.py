"""Sizes and EXIF orientation: the upright view of a stored image.

Cameras store pixels as the sensor read them and say in EXIF how to turn them; every
size the codec reports, and every frame it hands out, is upright. Shrink-on-load asks
the decoder in the stored orientation, so targets are turned back first.
"""

from __future__ import annotations

from PIL import ExifTags, Image, ImageFile

from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.leash import Deadline
from imgflow.imaging.source import exif_orientation_applies

Size = tuple[int, int]

DRAFT_MARGIN = 2
"""Shrink-on-load keeps at least twice the target size (PSNR 55 dB vs a full decode;
1x is visibly softer, BASELINES.md)."""

_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = frozenset({5, 6, 7, 8})


def exif_orientation(image: Image.Image, fmt: ImageFormat) -> int:
    """EXIF orientation (Pillow folds in XMP's); 1 when absent or invalid (0, text...)."""
    if fmt is ImageFormat.TIFF:
        return 1  # Pillow's TIFF plugin already reports upright sizes and loads upright pages
    if not exif_orientation_applies(image, fmt):
        return 1  # the plugin loads the image upright by itself
    value = image.getexif().get(ExifTags.Base.Orientation)
    return value if isinstance(value, int) and value in _ORIENTATIONS else 1


def upright(size: Size, orientation: int) -> Size:
    return (size[1], size[0]) if orientation in _SWAPS_AXES else size


def shrink_on_load(image: ImageFile.ImageFile, target: Size | None, orientation: int) -> None:
    if target is None:
        return
    width, height = upright(target, orientation)  # back to stored orientation
    image.draft(image.mode, (DRAFT_MARGIN * width, DRAFT_MARGIN * height))


def upright_frames(
    frames: list[Image.Image], orientation: int, deadline: Deadline
) -> tuple[Image.Image, ...]:
    transpose = _ORIENTATIONS.get(orientation)
    if transpose is not None:
        frames = [frame.transpose(transpose) for frame in deadline.paced(frames, "uprighting")]
    for frame in frames:
        frame.info = {}  # so no encoder can copy EXIF, XMP, comments or text chunks
    return tuple(frames)
