"""The job mix: one operation per job, an equal share for each queue, round-robin over
(operation x input image), each with the format and size its result must have; with a
srcset, every job also makes those widths of its input beside its operation's result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from loadtest.images import InputImage, Size

QUEUES = ("ROTATE", "RESIZE", "FORCE_RESIZE", "CONVERT")
BOX = (800, 600)


@dataclass(frozen=True)
class JobSpec:
    queue: str
    operation: dict[str, Any]
    image: InputImage
    expected_format: str
    expected_size: Size
    srcset: tuple[int, ...] = ()
    """Widths every job also makes (its result is then a variant, `main`)."""

    def expected_widths(self) -> list[int]:
        """The srcset widths the service keeps: none over the input's width, and the
        input's own width when every one is over it."""
        kept = [width for width in self.srcset if width <= self.image.size[0]]
        return sorted(kept or ([self.image.size[0]] if self.srcset else []))


def fitted(size: Size, box: Size) -> Size:
    """Fit inside `box` keeping the aspect: the service's rule, recomputed independently."""
    width, height = size
    box_w, box_h = box
    if box_h * width < box_w * height:  # integer cross-multiplication: no float ties
        return max(1, round(width * box_h / height)), box_h
    return box_w, max(1, round(height * box_w / width))


def job_for(queue: str, image: InputImage) -> JobSpec:
    width, height = image.size
    op: dict[str, Any]
    if queue == "ROTATE":
        return JobSpec(queue, {"rotate": {"degrees": 90}}, image, image.format, (height, width))
    if queue == "RESIZE":
        op = {"resize": {"width": BOX[0], "height": BOX[1]}}
        return JobSpec(queue, op, image, image.format, fitted(image.size, BOX))
    if queue == "FORCE_RESIZE":
        op = {"forceResize": {"width": BOX[0], "height": BOX[1]}}
        return JobSpec(queue, op, image, image.format, BOX)
    op = {"convert": {"format": image.other_format}}
    return JobSpec(queue, op, image, image.other_format, image.size)


def job_mix(count: int, images: Sequence[InputImage], srcset: Sequence[int] = ()) -> list[JobSpec]:
    """Round-robin over (operation x input): every queue gets every input in turn."""
    specs = []
    for index in range(count):
        image = images[(index // len(QUEUES)) % len(images)]
        spec = job_for(QUEUES[index % len(QUEUES)], image)
        specs.append(replace(spec, srcset=tuple(srcset)))
    return specs
