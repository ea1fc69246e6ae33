"""Bytes to frames and back: the only place Pillow parses or writes files.

`decode` turns any accepted upload into upright, fully loaded RGB/RGBA/L/LA frames
(so operations never meet palettes, CMYK or 16-bit), or raises `ImgflowError`.
`encode` writes frames from pixels alone: source metadata never reaches the output,
except the ICC profile, which is part of what the colours mean.

The rooms: `decoding` (format checks, the read), `geometry` (sizes, EXIF orientation,
shrink-on-load), `animation` (frames, durations, loop counts), `colour` (modes, ICC,
16-bit, alpha flattening, GIF palettes), `encoding` (per-format parameters, the
write) and `choice` (AUTO's format, `maxBytes`' quality). This package's face is
what the pipeline uses.
"""

from workers.codec.animation import frame_count
from workers.codec.choice import Encoded, Frames, encode_chosen
from workers.codec.decoding import Decoded, Header, Plan, ShrinkHint, decode
from workers.codec.encoding import encode

__all__ = [
    "Decoded",
    "Encoded",
    "Frames",
    "Header",
    "Plan",
    "ShrinkHint",
    "decode",
    "encode",
    "encode_chosen",
    "frame_count",
]
