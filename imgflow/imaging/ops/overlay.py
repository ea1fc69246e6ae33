"""overlay: another picture (a logo) placed over this one. `image` is the id of one of
the user's own SUCCEEDED jobs: its default result is what is placed, so a logo is
uploaded once and reused. Checked at submission (another user's id is NOT_FOUND);
the worker reads the picture from storage before rendering."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.placement import Gravity, check_compass, position, stamp_on
from imgflow.imaging.step import Flag, Step, bad_input, param

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class Overlay(Step):
    """Place the default result of another of your SUCCEEDED jobs (a logo) over the
    picture."""

    name: ClassVar[str] = "overlay"
    rank: ClassVar[int] = 140
    label: ClassVar[str] = "Overlay image"
    flag: ClassVar[Flag | None] = Flag(
        "JOB_ID[,gravity=G,opacity=O,scale=S,margin=PX]",
        "place the result of your job JOB_ID over the picture (default bottom right)",
    )

    image: str = param(doc="The id of one of your SUCCEEDED jobs; its result is placed.")
    gravity: Gravity = param(Gravity.SOUTH_EAST, doc="CENTER or a compass point.")
    opacity: float = param(1.0, low=0, high=1, doc="0 (invisible) to 1 (opaque).")
    scale: float | None = param(
        None,
        low=0.01,
        high=1,
        doc="Its width as a share of the picture's, 0.01 to 1; by default its own size "
        "(shrunk to fit inside the margins).",
    )
    margin: int = param(16, low=0, high=10_000, doc="Pixels from the edges, 0 to 10000.")

    def check(self) -> None:
        if not 1 <= len(self.image) <= 64:
            raise bad_input("overlay.image must be a job id")
        check_compass(self.gravity, "overlay.gravity")

    def sources(self) -> tuple[str, ...]:
        return (self.image,)

    def with_sources(self, pictures: Mapping[str, Image.Image]) -> Step:
        held = dataclasses.replace(self)
        # Held beside the fields, not in one: the picture is no part of the spec (never
        # in JSON, GraphQL or equality), only what the worker fetched for it.
        object.__setattr__(held, "_picture", pictures[self.image])
        return held

    def apply(self, frame: Image.Image) -> Image.Image:
        picture: Image.Image | None = getattr(self, "_picture", None)
        if picture is None:  # with_sources() was not called: a bug, not the user's fault
            raise RuntimeError(f"overlay {self.image}: its picture was not fetched")
        stamp = self._sized(picture.convert("RGBA"), frame.size)
        if stamp is None:
            raise ImgflowError(
                ErrorCode.INVALID_OPERATION,
                f"overlay: no room for the picture inside a {self.margin} px margin "
                f"on a {frame.width}x{frame.height} image",
            )
        at = position(frame.size, stamp.size, self.gravity, self.margin)
        return stamp_on(frame, stamp, at, self.opacity)

    def _sized(self, stamp: Image.Image, frame: tuple[int, int]) -> Image.Image | None:
        from PIL import Image

        room = (frame[0] - 2 * self.margin, frame[1] - 2 * self.margin)
        if min(room) < 1:
            return None
        width = stamp.width if self.scale is None else frame[0] * self.scale
        factor = min(width / stamp.width, room[0] / stamp.width, room[1] / stamp.height)
        size = (max(1, round(stamp.width * factor)), max(1, round(stamp.height * factor)))
        if size == stamp.size:
            return stamp
        # Premultiplied, so transparent pixels' colour does not bleed into the edges.
        scaled = stamp.convert("RGBa").resize(size, Image.Resampling.LANCZOS)
        return scaled.convert("RGBA")
