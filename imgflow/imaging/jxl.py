"""A JPEG XL file's declared size and orientation, read from its first bytes.

The JPEG XL plugin decodes every pixel as it opens a file, so the size must be known,
and checked against the limits, before the plugin sees the file at all; and the API,
which reads headers only, never hands a JPEG XL to the plugin.
"""

from __future__ import annotations

from dataclasses import dataclass

CODESTREAM = b"\xff\x0a"
CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"

_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}
"""SizeHeader's `ratio` field: width = height * numerator / denominator."""
_SIDE_BITS = (9, 13, 18, 30)
"""U32 distribution of a large side (minus one): a 2-bit selector picks the width."""
_MAX_BOXES = 64
"""A real container has the codestream within its first few boxes."""


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    """As stored, before the orientation turns it."""
    orientation: int
    """EXIF's numbering, 1-8; libjxl applies it as it decodes."""

    @property
    def upright(self) -> tuple[int, int]:
        swapped = self.orientation > 4
        return (self.height, self.width) if swapped else (self.width, self.height)


def declared_size(data: bytes) -> tuple[int, int]:
    """(width, height) as stored (before the header's orientation); ValueError when the
    bytes hold no readable JPEG XL size header."""
    header = read_header(data)
    return header.width, header.height


def read_header(data: bytes) -> Header:
    """The SizeHeader and the orientation from the ImageMetadata that follows it."""
    bits = _Bits(_codestream(data), start=16)
    width, height = _size_header(bits)
    orientation = 1
    if not bits.read(1) and bits.read(1):  # not all_default, and extra_fields
        orientation = bits.read(3) + 1
    return Header(width, height, orientation)


def _signed(stream: bytes) -> bytes:
    if not stream.startswith(CODESTREAM):
        raise ValueError("the JPEG XL codestream has no signature")
    return stream


def _codestream(data: bytes) -> bytes:
    if data.startswith(CODESTREAM):
        return data
    if not data.startswith(CONTAINER):
        raise ValueError("not a JPEG XL file")
    pos = len(CONTAINER)
    for _ in range(_MAX_BOXES):
        if pos + 8 > len(data):
            break
        size, kind, header = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8], 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        end = len(data) if size == 0 else pos + size
        if kind == b"jxlc":
            return _signed(data[pos + header : end])
        if kind == b"jxlp":  # partial codestreams: a 4-byte sequence number first
            return _signed(data[pos + header + 4 : end])
        if size < header:
            break
        pos = end
    raise ValueError("the JPEG XL container holds no codestream")


def _size_header(bits: _Bits) -> tuple[int, int]:
    small = bits.read(1)
    height = (bits.read(5) + 1) * 8 if small else bits.read(_SIDE_BITS[bits.read(2)]) + 1
    ratio = bits.read(3)
    if ratio:
        numerator, denominator = _RATIOS[ratio]
        return height * numerator // denominator, height
    width = (bits.read(5) + 1) * 8 if small else bits.read(_SIDE_BITS[bits.read(2)]) + 1
    return width, height


class _Bits:
    """JPEG XL's bit order: least significant bit of each byte first."""

    def __init__(self, data: bytes, start: int) -> None:
        self.data = data
        self.position = start

    def read(self, count: int) -> int:
        value = 0
        for shift in range(count):
            index = self.position >> 3
            if index >= len(self.data):
                raise ValueError("the JPEG XL size header is cut short")
            value |= ((self.data[index] >> (self.position & 7)) & 1) << shift
            self.position += 1
        return value
