"""HEIF files for tests. No HEVC encoder ships here (pi-heif is decode-only), so new
HEIFs are made by editing the boxes of a real one: an `irot` (rotation) property added
to its primary image turns a known picture by a known angle."""

from __future__ import annotations

import struct
from collections.abc import Iterator

Box = tuple[bytes, int, int, int]
"""(type, start, header length, size)."""


def boxes(data: bytes, start: int, end: int) -> Iterator[Box]:
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        yield kind, pos, 8, size
        pos += size


def find(data: bytes, start: int, end: int, kind: bytes) -> Box:
    return next(box for box in boxes(data, start, end) if box[0] == kind)


def rotated(data: bytes, quarter_turns: int) -> bytes:
    """`data` (a HEIF whose ipma is version 0 with one entry, and iloc version 0) with
    an essential `irot` property on its image: shown turned counter-clockwise by
    `quarter_turns` x 90 degrees."""
    meta = find(data, 0, len(data), b"meta")
    inner = meta[1] + 12  # meta is a full box: version and flags follow the header
    iprp = find(data, inner, meta[1] + meta[3], b"iprp")
    ipco = find(data, iprp[1] + 8, iprp[1] + iprp[3], b"ipco")
    ipma = find(data, iprp[1] + 8, iprp[1] + iprp[3], b"ipma")
    index = sum(1 for _ in boxes(data, ipco[1] + 8, ipco[1] + ipco[3])) + 1
    irot = struct.pack(">I4sB", 9, b"irot", quarter_turns % 4)
    entry = ipma[1] + 16  # header, version/flags, entry_count
    count = data[entry + 2]
    new_ipma = (
        struct.pack(">I", ipma[3] + 1)
        + data[ipma[1] + 4 : entry + 2]
        + bytes([count + 1])
        + data[entry + 3 : ipma[1] + ipma[3]]
        + bytes([0x80 | index])
    )
    grow = len(irot) + 1
    assert ipco[1] + ipco[3] == ipma[1], "ipma must follow ipco"
    out = (
        data[: meta[1]]
        + struct.pack(">I", meta[3] + grow)
        + data[meta[1] + 4 : iprp[1]]
        + struct.pack(">I", iprp[3] + grow)
        + data[iprp[1] + 4 : ipco[1]]
        + struct.pack(">I", ipco[3] + len(irot))
        + data[ipco[1] + 4 : ipco[1] + ipco[3]]
        + irot
        + new_ipma
        + data[ipma[1] + ipma[3] :]
    )
    return _shift_offsets(out, grow)


def _shift_offsets(data: bytes, shift: int) -> bytes:
    """Every file offset in iloc (version 0) moved by `shift`: the data after meta moved."""
    meta = find(data, 0, len(data), b"meta")
    iloc = find(data, meta[1] + 12, meta[1] + meta[3], b"iloc")
    body = bytearray(data[iloc[1] : iloc[1] + iloc[3]])
    assert body[8] == 0, "iloc version 0 only"
    offset_size, length_size = body[12] >> 4, body[12] & 15
    base_size = body[13] >> 4
    pos, items = 16, struct.unpack(">H", body[14:16])[0]
    for _ in range(items):
        pos += 4  # item_ID, data_reference_index
        based = _shift_field(body, pos, base_size, shift)
        pos += base_size
        extents = struct.unpack(">H", body[pos : pos + 2])[0]
        pos += 2
        for _ in range(extents):
            if not based:  # offsets relative to a base offset stay as they are
                _shift_field(body, pos, offset_size, shift)
            pos += offset_size + length_size
    return data[: iloc[1]] + bytes(body) + data[iloc[1] + iloc[3] :]


def _shift_field(body: bytearray, pos: int, size: int, shift: int) -> bool:
    """Moves a non-zero offset field; whether it did."""
    if size == 0:
        return False
    fmt = ">I" if size == 4 else ">Q"
    value = struct.unpack(fmt, body[pos : pos + size])[0]
    if value:
        body[pos : pos + size] = struct.pack(fmt, value + shift)
    return bool(value)
