"""trim: the uniform border goes, the picture stays; an animation is cut alike."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageSequence

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.info import ImageLimits
from imgflow.imaging.ops.crop import Crop
from imgflow.imaging.ops.fill import Fill, Gravity
from imgflow.imaging.ops.trim import Trim
from tests.imaging import quadrants, similarity
from workers.pipeline import render


def framed(border: tuple[int, ...], mode: str = "RGB") -> Image.Image:
    canvas = Image.new(mode, (120, 90), border)
    canvas.paste(quadrants(60, 40).convert(mode), (20, 30))
    return canvas


@pytest.mark.parametrize(
    ("mode", "border"), [("RGB", (255, 255, 255)), ("RGB", (10, 10, 10)), ("RGBA", (0, 0, 0, 0))]
)
def test_the_border_is_cut_and_the_picture_kept(mode: str, border: tuple[int, ...]) -> None:
    trimmed = Trim().apply(framed(border, mode))
    assert trimmed.size == (60, 40)
    assert similarity(trimmed, quadrants(60, 40)) > 0.99


def test_a_faint_border_needs_a_lower_threshold() -> None:
    image = Image.new("RGB", (50, 50), (250, 250, 250))
    image.paste((244, 244, 244), (10, 10, 40, 40))  # 6 levels off the border
    assert Trim(threshold=10).apply(image).size == (50, 50)
    assert Trim(threshold=3).apply(image).size == (30, 30)


def test_a_uniform_picture_is_left_whole() -> None:
    image = Image.new("RGB", (30, 20), (1, 2, 3))
    assert Trim().apply(image) is image


def test_a_trim_settles_into_the_crop_of_its_first_frame() -> None:
    assert Trim().settle(framed((255, 255, 255))) == Crop(20, 30, 60, 40)


def _animation() -> bytes:
    frames = [framed((255, 255, 255)) for _ in range(3)]
    for number, frame in enumerate(frames):  # each frame its own: GIF merges equal ones
        frame.paste((255, 255, 255), (25 + 10 * number, 35, 30 + 10 * number, 40))
    frames[1].paste((0, 0, 0), (0, 0, 5, 5))  # a later frame's stray mark is not the border
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    return out.getvalue()


@pytest.mark.parametrize("step", [Trim(), Fill(30, 30, Gravity.ATTENTION)], ids=["trim", "fill"])
def test_every_frame_of_an_animation_gets_the_first_frames_choice(step: object) -> None:
    rendered = render(_animation(), [step], ImageLimits())  # type: ignore[list-item]
    frames = [
        frame.convert("RGB")
        for frame in ImageSequence.Iterator(Image.open(io.BytesIO(rendered.data)))
    ]
    assert len(frames) == 3
    assert {frame.size for frame in frames} == {frames[0].size}
    assert similarity(frames[0], frames[2]) > 0.8


def test_threshold_out_of_range_is_bad_input() -> None:
    with pytest.raises(ImgflowError) as error:
        Trim(threshold=255)
    assert error.value.code is ErrorCode.BAD_USER_INPUT
