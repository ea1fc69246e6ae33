"""convert: the output format (and quality, 1-100, for lossy encoders), AUTO's
smallest, and `maxBytes`' highest quality that fits.

Its pixels stay as they are: the pipeline reads the last convert to choose the encoder
(imgflow.imaging.planning.output_target; workers.codec.choice encodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from imgflow.domain import QueueName
from imgflow.imaging.flagtext import fail, image_format, whole
from imgflow.imaging.formats import OutputFormat
from imgflow.imaging.step import Flag, Step, param

MAX_BYTES_FLOOR = 100
"""The smallest `convert.maxBytes`: below it no format holds even a 1x1 image."""


def _convert_flag(text: str) -> dict[str, str | int | None]:
    name, _, rest = text.partition(":")
    quality_text, colon, bytes_text = rest.partition(":")
    quality = whole(quality_text, "QUALITY") if quality_text else None
    if quality is not None and not 1 <= quality <= 100:
        raise fail(f"QUALITY must be between 1 and 100, got {quality}")
    step: dict[str, str | int | None] = {"format": image_format(name).value, "quality": quality}
    if colon:
        max_bytes = whole(bytes_text, "MAXBYTES")
        if max_bytes < MAX_BYTES_FLOOR:
            raise fail(f"MAXBYTES must be at least {MAX_BYTES_FLOOR}, got {max_bytes}")
        step["maxBytes"] = max_bytes
    return step


@dataclass(frozen=True)
class Convert(Step):
    """Choose the output format (AUTO: the smallest of WEBP, AVIF and JPEG, or PNG for alpha
    or flat colour); quality 1-100 for lossy formats; maxBytes: the highest quality whose
    file fits, else OUTPUT_TOO_LARGE."""

    name: ClassVar[str] = "convert"
    rank: ClassVar[int] = 40
    label: ClassVar[str] = "Convert"
    queue: ClassVar[QueueName | None] = QueueName.CONVERT
    flag: ClassVar[Flag | None] = Flag(
        "FORMAT[:QUALITY[:MAXBYTES]]",
        "encode as FORMAT (jpeg, png, webp, avif, gif, tiff, bmp, jxl, or auto: the smallest),"
        " QUALITY 1-100, at most MAXBYTES (webp::150000: the best quality that fits)",
        _convert_flag,
    )

    format: OutputFormat = param(initial=OutputFormat.WEBP)
    quality: int | None = param(None, low=1, high=100)
    max_bytes: int | None = param(None, low=MAX_BYTES_FLOOR, doc="at most this many bytes")
