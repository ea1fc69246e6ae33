"""metadata: which of the source's EXIF and XMP the output keeps.

Outputs are re-encoded from pixels, so by default nothing but the ICC profile
survives (no GPS leaks). Pixels stay as they are: the encoder reads the last
metadata step (workers.codec.metadata), like it reads the last convert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from imgflow.imaging.step import Flag, Step, param


class MetadataKeep(StrEnum):
    """Which source metadata an output keeps."""

    NONE = "NONE"
    """Nothing but the ICC profile (the default, also without a metadata step)."""
    COPYRIGHT = "COPYRIGHT"
    """The EXIF Artist and Copyright tags."""
    ALL = "ALL"
    """All EXIF (GPS included) and XMP, orientation reset to upright; where the output
    format holds them (EXIF: JPEG, PNG, WebP, AVIF, TIFF; XMP: JPEG, WebP, AVIF)."""


@dataclass(frozen=True)
class Metadata(Step):
    """Keep some of the source's metadata in the output (by default none is kept)."""

    name: ClassVar[str] = "metadata"
    rank: ClassVar[int] = 160
    label: ClassVar[str] = "Keep metadata"
    flag: ClassVar[Flag | None] = Flag("none|copyright|all", "which source metadata to keep")

    keep: MetadataKeep = param(initial=MetadataKeep.COPYRIGHT)


def kept_metadata(operations: Sequence[Step]) -> MetadataKeep:
    """The last metadata step's choice; NONE without one."""
    chosen = [op.keep for op in operations if isinstance(op, Metadata)]
    return chosen[-1] if chosen else MetadataKeep.NONE
