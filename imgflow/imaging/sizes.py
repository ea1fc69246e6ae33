"""How big each operation makes a frame, from sizes alone.

The API refuses a pipeline before accepting it and the worker re-checks it before any
pixel work, both from these rules (imgflow.imaging.planning); each operation's pixel
function produces exactly the size its `planned_size` gives (a test holds them to it).
"""

from __future__ import annotations

from imgflow.imaging.step import Size, Step

__all__ = ["Size", "output_size"]


def output_size(size: Size, op: Step) -> Size:
    """The frame size `op` turns `size` into; raises INVALID_OPERATION for a step that
    cannot apply (a crop that does not fit), as the pixel step would."""
    return op.planned_size(size)
