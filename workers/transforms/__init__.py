"""Pixel operations on one frame, dispatched to the operation's own pixel function.

Every operation is a pure function `(frame, spec) -> frame` on RGB, RGBA, L or LA
frames (the codec normalises modes at decode), declared with its spec in
`imgflow.imaging.ops` and producing the size its `planned_size` gives.
"""

from __future__ import annotations

from PIL import Image

from imgflow.imaging.step import Step

__all__ = ["apply"]


def apply(image: Image.Image, op: Step) -> Image.Image:
    """`op` applied to one frame."""
    return op.apply(image)
