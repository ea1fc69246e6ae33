"""Decoding under a leash: Pillow's own bomb threshold, the pixel budgets every check
shares, and the deadline a job's image work runs against.

Everything here is read by threads of the image pool at once, so nothing here changes
per call: Pillow is configured once per process, and limits travel as values.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from PIL import EpsImagePlugin, Image

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.info import ImageLimits

Size = tuple[int, int]
T = TypeVar("T")


def configure_pillow(limits: ImageLimits) -> None:
    """Set Pillow's process-wide guards from the settings; call once at start-up.

    Pillow warns (DecompressionBombWarning) above MAX_IMAGE_PIXELS and raises only above
    twice that. Both MAX_IMAGE_PIXELS and the warnings filters are process globals that
    every pool thread reads, and `warnings.catch_warnings` swaps the whole filter list
    in and out without a lock: per-call tweaks in one thread leak into, or are undone
    by, the others. So nothing is changed per call:

    - MAX_IMAGE_PIXELS is set here to the per-frame limit, once. Pillow then warns for
      exactly the images our own check refuses: `check_frame_pixels` runs on every size
      a header declares (the file, each frame after its seek, each TIFF page) before
      anything is loaded, so an image Pillow warns about is refused with
      IMAGE_TOO_LARGE and never decoded. That check does not depend on any filter.
    - One filter turning the warning into an exception is installed here, once, before
      the pool starts; threads only read it. It covers the sizes Pillow meets inside a
      single call, where our check cannot look (a GIF frame growing the canvas during
      a seek), so Pillow stops before allocating them.
    - Ghostscript is marked absent, so even an EPS opened by mistake could not start it.
      Uploads never get that far: only the sniffed format's plugin may open a file.
    """
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
    EpsImagePlugin.gs_binary = False


def pixel_limit(limits: ImageLimits) -> int:
    """The per-frame limit, never above Pillow's bomb threshold: the number Pillow warns
    at, in a process where `configure_pillow` did not run (tests, scripts)."""
    pillow_limit = Image.MAX_IMAGE_PIXELS
    return limits.max_pixels if pillow_limit is None else min(limits.max_pixels, pillow_limit)


def check_frame_pixels(size: Size, limits: ImageLimits, what: str) -> None:
    """Refuse one frame (or page, or planned output) over the per-frame limit."""
    width, height = size
    limit = pixel_limit(limits)
    if width * height > limit:
        raise ImgflowError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"{what} is {width} x {height} ({width * height:,} pixels); "
            f"the limit is {limit:,} pixels",
        )


def check_total_pixels(total: int, limits: ImageLimits, what: str) -> None:
    """Refuse frames whose pixels add up to more than the budget of one job.

    Every frame of an image is held decoded at once, so this bounds a job's memory
    where the per-frame limit alone would let 1000 frames of 50 Mpx through."""
    if total > limits.max_total_pixels:
        raise ImgflowError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"{what} add up to {total:,} pixels; the limit is "
            f"{limits.max_total_pixels:,} pixels across frames",
        )


class Deadline:
    """When a job's image work must stop: checked between frames and between operations.

    Pillow runs in pool threads, and a thread cannot be stopped from outside. So the
    time limit is kept two ways: the thread checks this deadline at every step
    boundary and stops itself there, and the worker stops waiting for the thread at
    the same instant (`workers.pipeline.render_in`), failing the job and freeing its
    slot. Between two checks runs one step (decoding a frame, one operation on one
    frame, the encode), and the pixel limits bound how long any single step can take,
    so a thread the worker gave up on stops soon after."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._ends_at = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._ends_at - self._clock())

    def check(self, next_step: str) -> None:
        """Raise TIME_LIMIT_EXCEEDED if the time is up, before starting `next_step`."""
        if self._clock() >= self._ends_at:
            raise self.exceeded(f"stopped before {next_step}")

    def paced(self, items: Iterable[T], step: str) -> Iterator[T]:
        """`items`, with the deadline checked before each (`step` names what is done)."""
        for number, item in enumerate(items, start=1):
            self.check(f"{step} frame {number}")
            yield item

    def exceeded(self, detail: str) -> ImgflowError:
        return ImgflowError(
            ErrorCode.TIME_LIMIT_EXCEEDED,
            f"the image work took longer than the limit of {self.seconds:g} s ({detail})",
        )
