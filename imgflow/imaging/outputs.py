"""What a job produces: a common prefix pipeline, then named outputs, each continuing
from the prefix's image with steps of its own.

`JobSpec` is what a submission asks for (the API builds it from `submitImage`'s
arguments; a preset is a stored one). `Output` is one output as the job row keeps it,
with its stored image once the worker has written it. These are plain values with a
JSON form; nothing here touches pixels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat, OutputFormat
from imgflow.imaging.info import ImageInfo
from imgflow.imaging.operations import (
    MAX_SIDE,
    Convert,
    Operation,
    Resize,
    pipeline_from_json,
    pipeline_to_json,
)

DEFAULT_OUTPUT = "default"
"""The one output of a job that asks for no variants and no srcset (today's result)."""
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
"""An output's name: it is part of URLs and file names, so plain and short."""


def _bad(message: str) -> ImgflowError:
    return ImgflowError(ErrorCode.BAD_USER_INPUT, message)


@dataclass(frozen=True)
class Variant:
    """One named output: `operations` continue from the prefix's image."""

    name: str
    operations: tuple[Operation, ...] = ()

    def __post_init__(self) -> None:
        if NAME_PATTERN.fullmatch(self.name) is None:
            raise _bad(
                f"variant name {self.name!r} must match {NAME_PATTERN.pattern}: lower-case "
                "letters, digits, '_' and '-', starting with a letter or digit, at most 40"
            )


@dataclass(frozen=True)
class Srcset:
    """A responsive width set: one output per width, named `w<width>`."""

    widths: tuple[int, ...]
    format: OutputFormat | None = None
    quality: int | None = None

    def __post_init__(self) -> None:
        if not self.widths:
            raise _bad("srcset.widths needs at least one width")
        for width in self.widths:
            if not 1 <= width <= MAX_SIDE:
                raise _bad(f"srcset.widths must be between 1 and {MAX_SIDE}, got {width}")
        if len(set(self.widths)) != len(self.widths):
            raise _bad("srcset.widths must not repeat a width")
        if self.quality is not None and self.format is None:
            raise _bad("srcset.quality needs srcset.format (the quality is the format's)")
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise _bad(f"srcset.quality must be between 1 and 100, got {self.quality}")

    def steps(self, width: int) -> tuple[Operation, ...]:
        fit: tuple[Operation, ...] = (Resize(width=width),)
        if self.format is None:
            return fit
        return (*fit, Convert(self.format, self.quality))


@dataclass(frozen=True)
class JobSpec:
    """What one submission asks for: the prefix, run once, then the outputs."""

    operations: tuple[Operation, ...] = ()
    variants: tuple[Variant, ...] = ()
    srcset: Srcset | None = None
    analyze: bool = False
    """Whether the job also reads the source's analysis (an `analyze`-only job, with no
    operations, variants or srcset, has no outputs)."""


@dataclass(frozen=True)
class StoredImage:
    """An output once written: its storage key and what clients are told about it."""

    key: str
    info: ImageInfo


@dataclass(frozen=True)
class Output:
    """One output as the job keeps it."""

    name: str
    operations: tuple[Operation, ...] = ()
    """The steps after the job's prefix."""
    srcset_width: int | None = None
    """Set on a srcset output: its width descriptor (`640w`)."""
    image: StoredImage | None = field(default=None)
    """None until the worker has stored it."""


def check_spec(spec: JobSpec, *, max_outputs: int, max_operations: int) -> None:
    """Refuse a spec before anything is stored: too many outputs, a repeated name, a
    pipeline too long, or nothing to do at all."""
    planned = planned_outputs(spec)
    if len(planned) > max_outputs:
        raise ImgflowError(
            ErrorCode.TOO_MANY_OUTPUTS,
            f"at most {max_outputs} outputs per job (variants plus srcset widths), "
            f"got {len(planned)}",
        )
    names = [output.name for output in planned]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise _bad(f"output names must be unique in a job; repeated: {', '.join(repeated)}")
    if planned == [Output(DEFAULT_OUTPUT)] and not spec.operations:
        raise _bad("the pipeline needs at least one operation")
    for output in planned:
        steps = len(spec.operations) + len(output.operations)
        if steps > max_operations:
            raise _bad(
                f"at most {max_operations} operations per pipeline, got {steps} "
                f"(prefix and output {output.name!r})"
            )


def planned_outputs(spec: JobSpec) -> list[Output]:
    """Every output the spec asks for, before the source's size is known: the variants,
    then one per srcset width; `default` alone when there are neither (an analysis-only
    spec has none)."""
    outputs = [Output(variant.name, variant.operations) for variant in spec.variants]
    if spec.srcset is not None:
        outputs += [
            Output(f"w{width}", spec.srcset.steps(width), srcset_width=width)
            for width in spec.srcset.widths
        ]
    if outputs:
        return outputs
    has_work = bool(spec.operations) or not spec.analyze
    return [Output(DEFAULT_OUTPUT)] if has_work else []


def fit_widths(outputs: Sequence[Output], prefix_width: int) -> tuple[list[Output], list[int]]:
    """Drop the srcset outputs wider than the prefix's image (never upscale), returning
    the kept outputs and the skipped widths. When every width is skipped, the ladder is
    the image's own width alone, so the srcset still has one candidate."""
    kept = [o for o in outputs if o.srcset_width is None or o.srcset_width <= prefix_width]
    skipped = sorted(o.srcset_width for o in outputs if o not in kept and o.srcset_width)
    if any(o.srcset_width for o in outputs) and not any(o.srcset_width for o in kept):
        own = next(o for o in outputs if o.srcset_width is not None)
        name = f"w{prefix_width}"
        if all(o.name != name for o in kept):
            steps = (Resize(width=prefix_width), *own.operations[1:])
            kept.append(replace(own, name=name, operations=steps, srcset_width=prefix_width))
    return kept, skipped


def main_output(outputs: Sequence[Output]) -> Output | None:
    """The output `Job.result` shows: `default`, else the first."""
    for output in outputs:
        if output.name == DEFAULT_OUTPUT:
            return output
    return outputs[0] if outputs else None


def outputs_to_json(outputs: Sequence[Output]) -> list[dict[str, Any]]:
    return [_output_to_dict(output) for output in outputs]


def outputs_from_json(data: Sequence[Mapping[str, Any]]) -> list[Output]:
    return [_output_from_dict(item) for item in data]


def _output_to_dict(output: Output) -> dict[str, Any]:
    image = output.image
    stored = None
    if image is not None:
        info = image.info
        stored = {
            "key": image.key,
            "format": info.format.value,
            "width": info.width,
            "height": info.height,
            "frames": info.frames,
            "bytes": info.bytes,
        }
    return {
        "name": output.name,
        "operations": pipeline_to_json(output.operations),
        "srcset_width": output.srcset_width,
        "image": stored,
    }


def _output_from_dict(data: Mapping[str, Any]) -> Output:
    stored = data.get("image")
    image = None
    if stored is not None:
        info = ImageInfo(
            ImageFormat(stored["format"]),
            int(stored["width"]),
            int(stored["height"]),
            int(stored["frames"]),
            int(stored["bytes"]),
        )
        image = StoredImage(str(stored["key"]), info)
    return Output(
        name=str(data["name"]),
        operations=tuple(pipeline_from_json(data.get("operations") or [])),
        srcset_width=data.get("srcset_width"),
        image=image,
    )
