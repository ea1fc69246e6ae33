"""A job row's outputs: read them, and tell how far the job has got."""

from __future__ import annotations

from dataclasses import dataclass

from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.info import ImageInfo
from imgflow.imaging.outputs import DEFAULT_OUTPUT, Output, StoredImage, outputs_from_json
from imgflow.models import Job


@dataclass(frozen=True)
class Progress:
    """Outputs stored so far, of the job's total."""

    done: int
    total: int


def outputs_of(job: Job) -> list[Output]:
    """The job's outputs. A job from before outputs existed had exactly one, `default`,
    its image in the result columns."""
    if job.outputs is not None:
        return outputs_from_json(job.outputs)
    return [Output(DEFAULT_OUTPUT, image=_legacy_result(job))]


def progress(job: Job) -> Progress:
    outputs = outputs_of(job)
    return Progress(sum(o.image is not None for o in outputs), len(outputs))


def result_fields(image: StoredImage | None) -> dict[str, object]:
    """The result columns, which show the job's main output (old clients read them)."""
    if image is None:
        return {}
    info = image.info
    return {
        "result_key": image.key,
        "result_format": info.format.value,
        "result_width": info.width,
        "result_height": info.height,
        "result_frames": info.frames,
        "result_bytes": info.bytes,
    }


def _legacy_result(job: Job) -> StoredImage | None:
    if job.result_key is None or job.result_format is None:
        return None
    info = ImageInfo(
        ImageFormat(job.result_format),
        job.result_width or 0,
        job.result_height or 0,
        job.result_frames or 1,
        job.result_bytes or 0,
    )
    return StoredImage(job.result_key, info)
