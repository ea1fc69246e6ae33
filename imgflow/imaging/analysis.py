"""What `analyze: true` tells about a source: a placeholder, its colours, a perceptual
hash, and the camera's account of the shot. Plain values with a JSON form, kept on the
job row; the worker computes them (workers.analysis) and the API shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BLURHASH_COMPONENTS = (4, 3)
"""BlurHash components across and down: enough for a landscape placeholder's shape."""
MAX_DOMINANT_COLOURS = 5


@dataclass(frozen=True)
class ExifEntry:
    """One camera fact as a tag name (EXIF's own, e.g. `ExposureTime`) and its value."""

    tag: str
    value: str


@dataclass(frozen=True)
class Analysis:
    blurhash: str
    """BlurHash of the upright source, 4x3 components."""
    dominant_colours: tuple[str, ...]
    """Up to five `#rrggbb`, most of the picture first."""
    phash: str
    """64-bit perceptual hash in hex, as `imagehash.phash` gives it for the upright source."""
    has_alpha: bool
    animated: bool
    frames: int
    exif: tuple[ExifEntry, ...]
    """Camera make and model, lens, capture time, exposure; GPS only where exposed."""


def analysis_to_json(analysis: Analysis) -> dict[str, Any]:
    return {
        "blurhash": analysis.blurhash,
        "dominant_colours": list(analysis.dominant_colours),
        "phash": analysis.phash,
        "has_alpha": analysis.has_alpha,
        "animated": analysis.animated,
        "frames": analysis.frames,
        "exif": [[entry.tag, entry.value] for entry in analysis.exif],
    }


def analysis_from_json(data: Mapping[str, Any]) -> Analysis:
    return Analysis(
        blurhash=str(data["blurhash"]),
        dominant_colours=tuple(str(c) for c in data["dominant_colours"]),
        phash=str(data["phash"]),
        has_alpha=bool(data["has_alpha"]),
        animated=bool(data["animated"]),
        frames=int(data["frames"]),
        exif=tuple(ExifEntry(str(tag), str(value)) for tag, value in data["exif"]),
    )
