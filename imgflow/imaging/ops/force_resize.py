"""force_resize: scale to exactly width x height, ignoring the aspect ratio."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from imgflow.domain import QueueName
from imgflow.imaging.flagtext import fail, size_text
from imgflow.imaging.ops.resize import scale
from imgflow.imaging.step import Flag, Size, Step, side

if TYPE_CHECKING:
    from PIL import Image


def _force_resize_flag(text: str) -> dict[str, int]:
    width, height = size_text(text)
    if width is None or height is None:
        raise fail(f"expected WxH (both sides, e.g. 800x600), got {text!r}")
    return {"width": width, "height": height}


@dataclass(frozen=True)
class ForceResize(Step):
    """Scale to exactly width x height."""

    name: ClassVar[str] = "force_resize"
    rank: ClassVar[int] = 30
    label: ClassVar[str] = "Force resize (exact)"
    queue: ClassVar[QueueName | None] = QueueName.FORCE_RESIZE
    flag: ClassVar[Flag | None] = Flag("WxH", "scale to exactly WxH", _force_resize_flag)

    width: int = side(initial=800)
    height: int = side(initial=600)

    def scaled_source(self, size: Size) -> Size | None:
        return self.planned_size(size)

    def planned_size(self, size: Size) -> Size:
        return self.width, self.height

    def apply(self, frame: Image.Image) -> Image.Image:
        return scale(frame, (self.width, self.height))
