"""Which encoding a `convert` gets: AUTO's smallest format, and `maxBytes`' highest
quality that fits, found by bisection. Every candidate is a real encode of the frames,
so the bytes compared are the bytes delivered."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import LOSSY_FORMATS, ImageFormat, OutputFormat
from imgflow.imaging.leash import Deadline
from imgflow.imaging.operations import Convert
from imgflow.imaging.ops.metadata import MetadataKeep
from workers.codec.encoding import encode
from workers.codec.metadata import SourceMetadata, metadata_params

FLAT_COLOURS = 256
"""At most this many distinct colours makes a picture flat (a logo, a chart, a
screenshot of text): a lossless PNG is then often smallest and always exact."""
TOP_QUALITY = 100
"""Where `maxBytes` starts when no quality is given: the best picture that fits."""


@dataclass(frozen=True)
class Encoded:
    data: bytes
    format: ImageFormat


@dataclass(frozen=True)
class Frames:
    """What every candidate encode of one result shares."""

    frames: Sequence[Image.Image]
    durations: Sequence[int]
    loop: int
    icc: bytes | None
    deadline: Deadline
    metadata: SourceMetadata | None = None
    keep: MetadataKeep = MetadataKeep.NONE
    """What of the source's metadata a `metadata` step keeps, where `fmt` holds it."""

    def encode(self, fmt: ImageFormat, quality: int | None) -> Encoded:
        self.deadline.check(f"encoding {fmt.value}")
        data = encode(
            self.frames,
            self.durations,
            self.loop,
            fmt,
            quality,
            self.icc,
            deadline=self.deadline,
            metadata=metadata_params(fmt, self.metadata, self.keep),
        )
        return Encoded(data, fmt)


def encode_chosen(result: Frames, convert: Convert) -> Encoded:
    """`result` written as `convert` asks: its format or AUTO's smallest, within
    `convert.max_bytes` if given (OUTPUT_TOO_LARGE if no quality fits)."""
    formats = _candidates(result.frames, convert.format)
    tries = sorted(
        (result.encode(fmt, convert.quality) for fmt in formats), key=lambda e: len(e.data)
    )
    if convert.max_bytes is None:
        return tries[0]
    for first in tries:  # smallest first: the first that can fit is the answer
        fitting = _fitted(result, first, convert.quality, convert.max_bytes)
        if fitting is not None:
            return fitting
    lowest = "even at quality 1" if LOSSY_FORMATS & set(formats) else "losslessly"
    raise ImgflowError(
        ErrorCode.OUTPUT_TOO_LARGE,
        f"no {'/'.join(f.value for f in formats)} encoding of this image fits in "
        f"{convert.max_bytes:,} bytes, {lowest}",
    )


def _candidates(frames: Sequence[Image.Image], asked: OutputFormat) -> list[ImageFormat]:
    if asked is not OutputFormat.AUTO:
        return [ImageFormat(asked.value)]
    if len(frames) > 1:  # animations stay animations
        return [ImageFormat.WEBP, ImageFormat.AVIF]
    exact = has_alpha(frames[0]) or is_flat(frames[0])
    return [ImageFormat.WEBP, ImageFormat.AVIF, ImageFormat.PNG if exact else ImageFormat.JPEG]


def has_alpha(frame: Image.Image) -> bool:
    """An alpha channel that is not fully opaque somewhere."""
    if frame.mode not in ("RGBA", "LA"):
        return False
    low, _ = frame.getchannel("A").getextrema()
    return low != 255


def is_flat(frame: Image.Image) -> bool:
    return frame.getcolors(FLAT_COLOURS) is not None


def _fitted(result: Frames, first: Encoded, quality: int | None, max_bytes: int) -> Encoded | None:
    """The highest quality of `first.format` whose file fits, or None; `first` is its
    encode at the quality asked. A lossless format has only the one encode."""
    if first.format not in LOSSY_FORMATS:
        return first if len(first.data) <= max_bytes else None
    top = quality or TOP_QUALITY
    at_top = first if quality else result.encode(first.format, top)
    return highest_fitting(lambda q: result.encode(first.format, q), top, at_top, max_bytes)


def highest_fitting(
    encode_at: Callable[[int], Encoded], top: int, at_top: Encoded, max_bytes: int
) -> Encoded | None:
    """Bisection over quality 1..top: about log2(top) encodes. Sizes grow with quality
    almost everywhere; where they do not, the answer still fits, one step lower."""
    if len(at_top.data) <= max_bytes:
        return at_top
    best = encode_at(1)
    if len(best.data) > max_bytes:
        return None
    low, high = 1, top  # low fits, high does not
    while high - low > 1:
        middle = (low + high) // 2
        candidate = encode_at(middle)
        if len(candidate.data) <= max_bytes:
            low, best = middle, candidate
        else:
            high = middle
    return best
