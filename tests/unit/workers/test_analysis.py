"""The analysis of a decoded source, and the camera facts read from EXIF."""

from __future__ import annotations

import io

import imagehash
import numpy as np
from PIL import ExifTags, Image, ImageOps
from PIL.TiffImagePlugin import IFDRational

from imgflow.imaging.analysis import ExifEntry, analysis_from_json, analysis_to_json
from imgflow.imaging.info import ImageLimits
from tests.imaging import BLUE, GREEN, RED, near, oriented_jpeg, quadrants, to_bytes
from workers.analysis import analyze, dominant_colours
from workers.codec import decode
from workers.codec.camera import camera_facts


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_colours_by_share_of_the_picture() -> None:
    pixels = np.zeros((100, 100, 3), np.uint8)
    pixels[:, :50], pixels[:, 50:80], pixels[:, 80:] = GREEN, BLUE, RED
    found = [hex_rgb(c) for c in dominant_colours(Image.fromarray(pixels))]
    assert len(found) >= 3
    assert near(found[0], GREEN)
    assert near(found[1], BLUE)
    assert near(found[2], RED)


def test_a_fully_transparent_picture_has_no_colours() -> None:
    assert dominant_colours(Image.new("RGBA", (20, 20), (255, 0, 0, 0))) == ()


def test_the_upright_source_is_analysed() -> None:
    upright = quadrants(64, 48)
    data = oriented_jpeg(upright, 6)
    found = analyze(decode(data, ImageLimits()), expose_gps=False)
    reference = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    assert found.phash == str(imagehash.phash(reference))
    assert analysis_from_json(analysis_to_json(found)) == found


def test_camera_facts_as_people_write_them() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon\x00"
    exif[ExifTags.Base.Model] = "EOS 300D"
    shot = exif.get_ifd(ExifTags.IFD.Exif)
    shot[ExifTags.Base.ExposureTime] = IFDRational(1, 250)
    shot[ExifTags.Base.FNumber] = IFDRational(28, 10)
    shot[ExifTags.Base.ISOSpeedRatings] = 400
    shot[ExifTags.Base.BodySerialNumber] = "1234"  # not a fact worth showing
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "S"
    gps[ExifTags.GPS.GPSLatitude] = (IFDRational(33), IFDRational(52), IFDRational(12))
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (IFDRational(151), IFDRational(12), IFDRational(36))
    exif = Image.open(io.BytesIO(to_bytes(Image.new("RGB", (4, 4)), "JPEG", exif=exif))).getexif()
    facts = [
        ExifEntry("Make", "Canon"),
        ExifEntry("Model", "EOS 300D"),
        ExifEntry("ExposureTime", "1/250"),
        ExifEntry("FNumber", "2.8"),
        ExifEntry("ISOSpeedRatings", "400"),
    ]
    assert camera_facts(exif, expose_gps=False) == tuple(facts)
    assert camera_facts(exif, expose_gps=True) == (
        *facts,
        ExifEntry("GPSLatitude", "-33.870000"),
        ExifEntry("GPSLongitude", "151.210000"),
    )
