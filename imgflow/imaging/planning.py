"""A pipeline planned from sizes alone, before any pixel work: what it writes, which
frames it keeps, and whether every step fits the limits.

The API runs this on the upload's headers before accepting a job (imgflow.imaging.ingest);
the worker runs it again on the decoder's headers before touching pixels, so what is
accepted is what the worker will produce.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ANIMATED_FORMATS, ImageFormat, OutputFormat, written_as
from imgflow.imaging.info import ImageLimits
from imgflow.imaging.leash import pixel_limit
from imgflow.imaging.operations import MAX_SIDE, Convert, Operation
from imgflow.imaging.outputs import Output
from imgflow.imaging.sizes import Size, output_size


def output_target(operations: Sequence[Operation], source: ImageFormat) -> Convert:
    """What is written: the last `Convert`, else the source's own format (JPEG for a
    source imgflow only reads) at its default quality."""
    converts = [op for op in operations if isinstance(op, Convert)]
    if not converts:
        return Convert(OutputFormat(written_as(source).value))
    return converts[-1]


def kept_frames(source: ImageFormat, frames: int, output: OutputFormat) -> int:
    """How many of the source's frames the output keeps, so no work is spent on the
    others: animations stay animations in formats that animate (AUTO only chooses
    among those for an animation), TIFF pages stay pages in TIFF; anything else keeps
    its first frame."""
    if source in ANIMATED_FORMATS and frames > 1:
        animates = output is OutputFormat.AUTO or ImageFormat(output.value) in ANIMATED_FORMATS
        return frames if animates else 1
    return frames if output == OutputFormat.TIFF else 1


def check_plan(sizes: Sequence[Size], operations: Sequence[Operation], limits: ImageLimits) -> None:
    """Refuse a pipeline from sizes alone, before any pixel work: a crop outside the
    image at its step, or any step's output over the per-frame limit, a side no codec
    holds, or the pixel budget across the frames (`sizes`: each kept frame's upright
    size). Every step's output is held in memory in its turn, so the intermediate steps
    are checked, not only the last."""
    counts = Counter(sizes)  # an animation's frames share one size: plan it once
    for number, op in enumerate(operations, start=1):
        counts = _step_sizes(counts, op, number)
        step = f"{op.name} (step {number})"
        for size in counts:
            _check_frame_output(size, limits, step)
        _check_total_output(counts, limits, step)


def _step_sizes(counts: Counter[Size], op: Operation, number: int) -> Counter[Size]:
    after: Counter[Size] = Counter()
    for size, frames in counts.items():
        try:
            after[output_size(size, op)] += frames
        except ImgflowError as error:
            raise ImgflowError(error.code, f"step {number}: {error.message}") from None
    return after


def _check_frame_output(size: Size, limits: ImageLimits, step: str) -> None:
    width, height = size
    limit = pixel_limit(limits)
    if width * height > limit or max(size) > MAX_SIDE:
        raise ImgflowError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"{step}: the output would be {width} x {height} ({width * height:,} pixels); "
            f"the limit is {limit:,} pixels and {MAX_SIDE} per side",
        )


def _check_total_output(counts: Counter[Size], limits: ImageLimits, step: str) -> None:
    total = sum(width * height * frames for (width, height), frames in counts.items())
    if total > limits.max_total_pixels:
        raise ImgflowError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"{step}: the output would be {counts.total()} frames, {total:,} pixels in all; "
            f"the limit is {limits.max_total_pixels:,} pixels across frames",
        )


def check_outputs(
    sizes: Sequence[Size],
    source: ImageFormat,
    prefix: Sequence[Operation],
    outputs: Sequence[Output],
    limits: ImageLimits,
) -> None:
    """Refuse a whole job from sizes alone: each output's path (the prefix, then its own
    steps) as `check_plan` does, and the pixels of all the outputs together, which the
    job's one time limit has to cover, against the budget across frames."""
    total = 0
    for output in outputs:
        steps = [*prefix, *output.operations]
        target = output_target(steps, source)
        kept = list(sizes[: kept_frames(source, len(sizes), target.format)])
        check_plan(kept, steps, limits)
        total += sum(width * height for width, height in (_final(size, steps) for size in kept))
    if total > limits.max_total_pixels:
        raise ImgflowError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"the job's {len(outputs)} outputs would be {total:,} pixels in all; "
            f"the limit is {limits.max_total_pixels:,} pixels per job",
        )


def prefix_width(size: Size, prefix: Sequence[Operation]) -> int:
    """The width of the prefix's image, which srcset widths must not exceed."""
    return _final(size, prefix)[0]


def _final(size: Size, steps: Sequence[Operation]) -> Size:
    for op in steps:
        size = output_size(size, op)
    return size
