"""convert: the output format (and quality, 1-100, for lossy encoders).

Its pixels stay as they are: the pipeline reads the last convert to choose the encoder
(imgflow.imaging.planning.output_format).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from imgflow.domain import QueueName
from imgflow.imaging.flagtext import fail, image_format, whole
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.step import Flag, Step, param


def _convert_flag(text: str) -> dict[str, str | int | None]:
    name, colon, quality_text = text.partition(":")
    quality = whole(quality_text, "QUALITY") if colon else None
    if quality is not None and not 1 <= quality <= 100:
        raise fail(f"QUALITY must be between 1 and 100, got {quality}")
    return {"format": image_format(name).value, "quality": quality}


@dataclass(frozen=True)
class Convert(Step):
    """Choose the output format; quality 1-100 for lossy formats."""

    name: ClassVar[str] = "convert"
    rank: ClassVar[int] = 40
    label: ClassVar[str] = "Convert"
    queue: ClassVar[QueueName | None] = QueueName.CONVERT
    flag: ClassVar[Flag | None] = Flag(
        "FORMAT[:QUALITY]",
        "encode as FORMAT (jpeg, png, webp, avif, gif, tiff, bmp), QUALITY 1-100",
        _convert_flag,
    )

    format: ImageFormat = param(initial=ImageFormat.WEBP)
    quality: int | None = param(None, low=1, high=100)
