"""The camera's account of a shot, read from EXIF: the few facts worth showing (make and
model, lens, capture time, exposure) and, only when the operator allows it, where the
shot was taken. Everything else in EXIF (serial numbers, maker notes) stays unread.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from fractions import Fraction
from typing import Any

from PIL import ExifTags, Image, TiffImagePlugin

from imgflow.imaging.analysis import ExifEntry

_BASE = (ExifTags.Base.Make, ExifTags.Base.Model)
_SHOT = (
    ExifTags.Base.LensMake,
    ExifTags.Base.LensModel,
    ExifTags.Base.DateTimeOriginal,
    ExifTags.Base.OffsetTimeOriginal,
    ExifTags.Base.ExposureTime,
    ExifTags.Base.FNumber,
    ExifTags.Base.ISOSpeedRatings,
    ExifTags.Base.FocalLength,
    ExifTags.Base.ExposureBiasValue,
)
MAX_VALUE_CHARS = 200
"""EXIF strings are whatever the camera (or an editor) wrote: long ones are cut."""


def camera_facts(exif: Image.Exif, *, expose_gps: bool) -> tuple[ExifEntry, ...]:
    """The chosen tags present in `exif`, in a fixed order; GPS position last, if allowed."""
    shot = exif.get_ifd(ExifTags.IFD.Exif)
    entries = [*_entries(exif, _BASE), *_entries(shot, _SHOT)]
    if expose_gps:
        entries += _position(exif.get_ifd(ExifTags.IFD.GPSInfo))
    return tuple(entries)


def _entries(ifd: Mapping[int, Any], tags: tuple[ExifTags.Base, ...]) -> Iterator[ExifEntry]:
    for tag in tags:
        value = _text(tag, ifd.get(tag))
        if value:
            yield ExifEntry(tag.name, value)


def _text(tag: ExifTags.Base, value: object) -> str | None:
    """A value as people write it: `1/250` for an exposure time, `2.8` for an f-number."""
    if isinstance(value, str):
        return value.replace("\x00", "").strip()[:MAX_VALUE_CHARS] or None
    if isinstance(value, tuple) and value:  # ISO may come as a list of speeds
        value = value[0]
    if isinstance(value, TiffImagePlugin.IFDRational):
        if value.denominator == 0:
            return None
        number = Fraction(int(value.numerator), int(value.denominator))
        if tag is ExifTags.Base.ExposureTime and 0 < number < 1:
            return f"1/{round(1 / number)}"
        return f"{float(number):g}"
    if isinstance(value, int):
        return str(value)
    return None  # bytes and other shapes: nothing a person reads


def _position(gps: Mapping[int, Any]) -> list[ExifEntry]:
    latitude = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef))
    longitude = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef))
    if latitude is None or longitude is None:
        return []
    entries = [ExifEntry("GPSLatitude", latitude), ExifEntry("GPSLongitude", longitude)]
    altitude = gps.get(ExifTags.GPS.GPSAltitude)
    if isinstance(altitude, TiffImagePlugin.IFDRational) and altitude.denominator:
        below = gps.get(ExifTags.GPS.GPSAltitudeRef) in (1, b"\x01")  # below sea level
        metres = -float(altitude) if below else float(altitude)
        entries.append(ExifEntry("GPSAltitude", f"{metres:.1f}"))
    return entries


def _degrees(value: object, ref: object) -> str | None:
    """Degrees, minutes, seconds and a hemisphere as signed decimal degrees (6 places,
    about 0.1 m)."""
    if not isinstance(value, tuple) or len(value) != 3:
        return None
    try:
        degrees = float(value[0]) + float(value[1]) / 60 + float(value[2]) / 3600
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not math.isfinite(degrees):  # a zero denominator reads as NaN
        return None
    sign = -1 if ref in ("S", "W") else 1
    return f"{sign * degrees:.6f}"
