"""metadata: what of the source's EXIF and XMP reaches the output, through the real
decoder and encoder (the step itself leaves pixels alone)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.info import ImageLimits
from imgflow.imaging.ops.convert import Convert
from imgflow.imaging.ops.metadata import Metadata, MetadataKeep
from imgflow.imaging.step import Step
from tests.imaging import RED, YELLOW, colour_at, near, quadrants
from workers.pipeline import render

ARTIST, COPYRIGHT, ORIENTATION, GPS = 0x013B, 0x8298, 0x0112, 0x8825
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
)


def tagged_photo() -> bytes:
    """A JPEG stored turned (orientation 6) with an artist, a copyright, GPS and XMP."""
    exif = Image.Exif()
    exif[ARTIST], exif[COPYRIGHT], exif[ORIENTATION] = "Ada", "(c) Ada 2026", 6
    gps = exif.get_ifd(GPS)
    gps[1], gps[2] = "N", (51.0, 30.0, 0.0)
    stored = quadrants(64, 48).transpose(Image.Transpose.ROTATE_90)  # shown upright by 6
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=95, exif=exif.tobytes(), xmp=XMP)
    return out.getvalue()


def rendered(steps: list[Step]) -> Image.Image:
    image = Image.open(io.BytesIO(render(tagged_photo(), steps, ImageLimits()).data))
    image.load()
    return image


@pytest.mark.parametrize("steps", [[], [Metadata(MetadataKeep.NONE)]], ids=["default", "none"])
def test_nothing_is_kept_by_default(steps: list[Step]) -> None:
    image = rendered(steps)
    assert len(image.getexif()) == 0
    assert "xmp" not in image.info


def test_copyright_keeps_artist_and_copyright_only() -> None:
    exif = rendered([Metadata(MetadataKeep.COPYRIGHT)]).getexif()
    assert dict(exif) == {ARTIST: "Ada", COPYRIGHT: "(c) Ada 2026"}
    assert len(exif.get_ifd(GPS)) == 0


@pytest.mark.parametrize("fmt", [ImageFormat.JPEG, ImageFormat.WEBP, ImageFormat.AVIF])
def test_all_keeps_everything_but_the_turn(fmt: ImageFormat) -> None:
    image = rendered([Metadata(MetadataKeep.ALL), Convert(fmt)])
    exif = image.getexif()
    assert (exif[ARTIST], exif[COPYRIGHT], exif.get(ORIENTATION)) == ("Ada", "(c) Ada 2026", 1)
    assert exif.get_ifd(GPS)[1] == "N"
    assert b'tiff:Orientation="1"' in image.info["xmp"]
    # Upright once, not turned again by a viewer that honours the tags.
    upright = image.convert("RGB")
    assert upright.size == (64, 48)
    assert near(colour_at(upright, 8, 8), RED, tolerance=40)
    assert near(colour_at(upright, 56, 40), YELLOW, tolerance=40)


def test_formats_without_a_place_for_it_write_none() -> None:
    image = rendered([Metadata(MetadataKeep.ALL), Convert(ImageFormat.GIF)])
    assert len(image.getexif()) == 0
