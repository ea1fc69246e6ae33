"""fill: cover width x height and crop the rest; the gravity says what is kept."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from imgflow.domain import QueueName
from imgflow.imaging.ops.resize import REDUCING_GAP
from imgflow.imaging.placement import COMPASS, Gravity
from imgflow.imaging.step import Flag, Size, Step, bad_input, param, side

if TYPE_CHECKING:
    from PIL import Image

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Fill(Step):
    """Cover width x height, keeping the aspect ratio, and crop what sticks out; the
    gravity chooses the part kept."""

    name: ClassVar[str] = "fill"
    rank: ClassVar[int] = 100
    label: ClassVar[str] = "Fill (cover and crop)"
    queue: ClassVar[QueueName | None] = QueueName.RESIZE
    flag: ClassVar[Flag | None] = Flag(
        "W,H[,GRAVITY]",
        "cover WxH and crop the rest; gravity center (default), north, ..., attention, "
        "entropy, faces, or focus with focusX=X,focusY=Y (0-1)",
    )

    width: int = side(initial=400)
    height: int = side(initial=400)
    gravity: Gravity = param(Gravity.CENTER, doc="Which part is kept; CENTER by default.")
    focus_x: float | None = param(
        None, low=0, high=1, doc="With FOCUS: the point across, 0 (left) to 1 (right)."
    )
    focus_y: float | None = param(
        None, low=0, high=1, doc="With FOCUS: the point down, 0 (top) to 1 (bottom)."
    )

    def check(self) -> None:
        focus_given = self.focus_x is not None or self.focus_y is not None
        if self.gravity is Gravity.FOCUS and (self.focus_x is None or self.focus_y is None):
            raise bad_input("fill with gravity FOCUS needs focusX and focusY (0-1)")
        if self.gravity is not Gravity.FOCUS and focus_given:
            raise bad_input("fill.focusX and fill.focusY apply only with gravity FOCUS")

    def scaled_source(self, size: Size) -> Size | None:
        """The source scaled to cover the box: all a fill keeps."""
        scale = max(self.width / size[0], self.height / size[1])
        return math.ceil(size[0] * scale), math.ceil(size[1] * scale)

    def planned_size(self, size: Size) -> Size:
        return self.width, self.height

    def settle(self, first: Image.Image) -> Step:
        """A content gravity becomes the FOCUS point at the middle of the window it
        chose on the first frame: the same window for every frame."""
        if self.gravity in COMPASS or self.gravity is Gravity.FOCUS:
            return self
        left, top, right, bottom = self.source_box(first)
        across, down = (left + right) / 2 / first.width, (top + bottom) / 2 / first.height
        return Fill(self.width, self.height, Gravity.FOCUS, across, down)

    def apply(self, frame: Image.Image) -> Image.Image:
        from PIL import Image

        box = self.source_box(frame)
        size = (self.width, self.height)
        return frame.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=REDUCING_GAP)

    def source_box(self, frame: Image.Image) -> Box:
        """The part of `frame` (in its pixels) that is scaled to width x height."""
        width, height = frame.size
        scale = max(self.width / width, self.height / height)
        window = (min(width, self.width / scale), min(height, self.height / scale))
        if self.gravity in COMPASS:
            across, down = COMPASS[self.gravity]
            left, top = (width - window[0]) * across, (height - window[1]) * down
        elif self.gravity is Gravity.FOCUS:
            assert self.focus_x is not None  # check() saw to it
            assert self.focus_y is not None
            left = _centred(self.focus_x * width, window[0], width)
            top = _centred(self.focus_y * height, window[1], height)
        else:
            left, top = _content_offset(frame, self.gravity, window)
        return left, top, left + window[0], top + window[1]


def _centred(point: float, window: float, length: float) -> float:
    return min(max(point - window / 2, 0.0), length - window)


def _content_offset(frame: Image.Image, gravity: Gravity, window: tuple[float, float]) -> Size:
    """Where the crop window goes for the content gravities, in `frame`'s pixels. Only
    one axis is cropped by a fill: the other offset is 0."""
    from imgflow.imaging import saliency

    axis = 0 if window[0] < frame.size[0] else 1
    if window[axis] >= frame.size[axis]:
        return 0, 0
    small = saliency.small_copy(frame, saliency.LOOK_SIDE)
    ratio = small.size[axis] / frame.size[axis]
    small_window = max(1, round(window[axis] * ratio))
    if gravity is Gravity.ENTROPY:
        offset = saliency.entropy_offset(small, small_window, axis)
    else:
        offset = _interest_offset(frame, small, gravity, small_window, axis)
    exact = min(offset / ratio, frame.size[axis] - window[axis])
    return (round(exact), 0) if axis == 0 else (0, round(exact))


def _interest_offset(
    frame: Image.Image, small: Image.Image, gravity: Gravity, window: int, axis: int
) -> int:
    import numpy as np

    from imgflow.imaging import saliency

    if gravity is Gravity.FACES:
        look = saliency.face_copy(frame)
        found = saliency.faces(look)
        if found:
            # The faces' boxes, drawn at the attention map's scale, are the interest.
            scale = small.size[0] / look.size[0]
            interest = np.zeros((small.size[1], small.size[0]))
            for x, y, w, h in found:
                left, top = round(x * scale), round(y * scale)
                interest[top : top + round(h * scale), left : left + round(w * scale)] = 1
            return saliency.best_offset(interest.sum(axis=axis), window)
    interest = saliency.attention_map(small)
    return saliency.best_offset(interest.sum(axis=axis), window)
