"""What we know about an image, and the limits it must respect."""

from __future__ import annotations

from dataclasses import dataclass

from imgflow.imaging.formats import ImageFormat


@dataclass(frozen=True)
class ImageInfo:
    """An image as clients see it: upright size, frame count, encoded bytes."""

    format: ImageFormat
    width: int
    height: int
    frames: int
    bytes: int


@dataclass(frozen=True)
class ImageLimits:
    """Resource limits applied at ingest and again in the worker."""

    max_pixels: int = 50_000_000
    """Largest source (per frame) and output (per frame) pixel count."""
    max_frames: int = 1_000
    """Most frames an animated or multi-page source may have."""
    max_total_pixels: int = 100_000_000
    """Most pixels across all frames, of the source and of every step's output."""
    job_time_limit_seconds: float = 60.0
    """Longest one job's decode + operations + encode may take."""
