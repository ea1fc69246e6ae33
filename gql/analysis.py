"""A source's analysis (`analyze: true`) as the API shows it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import strawberry

from imgflow.imaging.analysis import analysis_from_json


@strawberry.type(description="One camera fact: EXIF's tag name and its value as text.")
class ExifEntry:
    tag: str = strawberry.field(
        description="e.g. `Make`, `Model`, `LensModel`, `DateTimeOriginal`, `ExposureTime`, "
        "`FNumber`, `ISOSpeedRatings`, `FocalLength`; `GPSLatitude`, `GPSLongitude`, "
        "`GPSAltitude` only where the server exposes GPS."
    )
    value: str


@strawberry.type(
    description="What the upright source is like: a placeholder, its colours, a "
    "perceptual hash and the camera's facts. Read from the source as decoded for the job."
)
class ImageAnalysis:
    blurhash: str = strawberry.field(description="BlurHash, 4x3 components.")
    dominant_colors: list[str] = strawberry.field(
        description="Up to 5 `#rrggbb`, the colour covering most of the picture first "
        "(transparent pixels left out)."
    )
    phash: str = strawberry.field(
        description="64-bit perceptual hash, 16 hex digits, as the `imagehash` package's "
        "`phash` gives it for the upright source (first frame)."
    )
    has_alpha: bool
    animated: bool
    frames: int
    exif: list[ExifEntry] = strawberry.field(
        description="Camera make and model, lens, capture time and exposure, as recorded."
    )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImageAnalysis:
        found = analysis_from_json(data)
        return cls(
            blurhash=found.blurhash,
            dominant_colors=list(found.dominant_colours),
            phash=found.phash,
            has_alpha=found.has_alpha,
            animated=found.animated,
            frames=found.frames,
            exif=[ExifEntry(tag=e.tag, value=e.value) for e in found.exif],
        )
