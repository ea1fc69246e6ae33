"""One decode, one prefix, many outputs: each output is the picture its whole pipeline
renders alone, shrink-on-load is planned for the largest output that scales down, and
large resizes climb a ladder of the ones already made."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.info import ImageLimits
from imgflow.imaging.leash import Deadline
from imgflow.imaging.operations import (
    Blur,
    Convert,
    Crop,
    Flip,
    FlipDirection,
    ForceResize,
    Grayscale,
    Resize,
    Rotate,
)
from imgflow.imaging.outputs import Output
from tests.imaging import animated_gif, frames_of, quadrants, similarity, to_bytes
from workers.pipeline import Rendered, render, render_outputs
from workers.shrink import job_shrink_target

LIMITS = ImageLimits()
PHOTO = Path(__file__).resolve().parents[3] / ".." / "shared" / "bench-images" / "photo_1mp.jpg"


def render_all(
    data: bytes, prefix: tuple[object, ...], outputs: list[Output]
) -> dict[str, Rendered]:
    made: list[Rendered] = []
    render_outputs(data, prefix, outputs, LIMITS, made.append)  # type: ignore[arg-type]
    assert sorted(r.name for r in made) == sorted(o.name for o in outputs), "each once"
    return {r.name: r for r in made}


def picture(rendered: Rendered) -> Image.Image:
    return Image.open(io.BytesIO(rendered.data))


def test_each_output_is_its_whole_pipeline_rendered_alone() -> None:
    data = to_bytes(quadrants(200, 150), "PNG")
    prefix = (Crop(10, 10, 180, 120), Flip(FlipDirection.HORIZONTAL))
    outputs = [
        Output("thumb", (Resize(60, 60), Convert(ImageFormat.WEBP, 90))),
        Output("gray", (Grayscale(), Rotate(90))),
        Output("soft", (Blur(2.0), ForceResize(50, 20))),
        Output("same"),
    ]
    made = render_all(data, prefix, outputs)
    for output in outputs:
        alone = render(data, [*prefix, *output.operations], LIMITS)
        assert made[output.name].info == alone.info
        np.testing.assert_array_equal(
            np.asarray(picture(made[output.name])), np.asarray(picture(alone))
        )


def test_outputs_keep_the_frames_their_format_keeps() -> None:
    data = animated_gif(4)
    made = render_all(
        data, (Resize(width=20),), [Output("anim"), Output("still", (Convert(ImageFormat.JPEG),))]
    )
    assert made["anim"].info.frames == 4
    assert len(frames_of(made["anim"].data)) == 4
    assert made["still"].info.frames == 1


def test_shrink_on_load_is_planned_for_the_largest_output() -> None:
    size = (4000, 3000)
    small, large = [Resize(width=200)], [Resize(width=800)]
    assert job_shrink_target([], [small, large], size) == (800, 600)
    assert job_shrink_target([], [small, [Grayscale()]], size) is None, "one needs every pixel"
    assert job_shrink_target([Resize(width=400)], [[Grayscale()]], size) == (400, 300)
    assert job_shrink_target([Crop(0, 0, 10, 10)], [small], size) is None


@pytest.mark.skipif(not PHOTO.exists(), reason="../shared/bench-images is not checked out")
def test_a_drafted_jpeg_gives_each_width_its_exact_size_and_picture() -> None:
    data = PHOTO.read_bytes()
    widths = (160, 320)
    made = render_all(data, (), [Output(f"w{w}", (Resize(width=w),)) for w in widths])
    for width in widths:
        alone = render(data, [Resize(width=width)], LIMITS)
        got = made[f"w{width}"]
        assert (got.info.width, got.info.height) == (alone.info.width, alone.info.height)
        assert similarity(picture(got), picture(alone)) > 0.98


def test_large_widths_climb_the_ladder_small_ones_come_from_the_prefix() -> None:
    source = Image.effect_mandelbrot((2400, 1800), (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB")
    data = to_bytes(source, "PNG", compress_level=1)
    outputs = [Output(f"w{w}", (Resize(width=w),)) for w in (400, 1600, 2000)]
    made = render_all(data, (), outputs)
    small_alone = render(data, [Resize(width=400)], LIMITS)
    np.testing.assert_array_equal(
        np.asarray(picture(made["w400"])), np.asarray(picture(small_alone))
    )
    climbed, alone = picture(made["w1600"]), picture(render(data, [Resize(width=1600)], LIMITS))
    assert climbed.size == alone.size == (1600, 1200)
    assert not np.array_equal(np.asarray(climbed), np.asarray(alone)), "made from the 2000 rung"
    assert similarity(climbed, alone) > 0.99


def test_the_whole_job_is_refused_from_the_header_before_any_output() -> None:
    data = to_bytes(quadrants(2000, 2000), "PNG")
    big = [Output(f"b{n}", (ForceResize(6000, 6000),)) for n in range(3)]
    made: list[Rendered] = []
    with pytest.raises(ImgflowError) as caught:
        render_outputs(data, (), big, LIMITS, made.append)
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert made == []


class Ticks:
    """A clock that advances one second each time it is read."""

    def __init__(self) -> None:
        self.now = itertools.count()

    def __call__(self) -> float:
        return float(next(self.now))


def test_one_deadline_covers_every_output() -> None:
    """Each output alone fits the time; together they do not: the job stops part way,
    with the outputs encoded so far handed over and no more."""
    data = to_bytes(quadrants(64, 48), "PNG")
    outputs = [Output(f"v{n}", (Grayscale(), Flip(FlipDirection.VERTICAL))) for n in range(10)]
    alone: list[Rendered] = []
    render_outputs(data, (), outputs[:1], LIMITS, alone.append, Deadline(12, Ticks()))
    assert len(alone) == 1
    made: list[Rendered] = []
    with pytest.raises(ImgflowError) as caught:
        render_outputs(data, (), outputs, LIMITS, made.append, Deadline(12, Ticks()))
    assert caught.value.code is ErrorCode.TIME_LIMIT_EXCEEDED
    assert 1 <= len(made) < len(outputs)
