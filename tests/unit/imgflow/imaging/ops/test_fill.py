"""fill: covers the box, and the gravity decides which part of the picture is kept,
judged by comparing the result with the part that should have been kept (SSIM)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.ops.fill import Fill, Gravity
from tests.imaging import quadrants, similarity

BENCH_IMAGES = Path(__file__).resolve().parents[5].parent / "shared" / "bench-images"
PORTRAIT = BENCH_IMAGES / "photo_2mp.png"
"""An astronaut's portrait (1448 x 1448), her face near the top middle."""


def kept(image: Image.Image, box: tuple[int, int, int, int], size: tuple[int, int]) -> Image.Image:
    return image.crop(box).resize(size, Image.Resampling.LANCZOS)


WIDE = quadrants(200, 100)  # red | green over blue | yellow, 2:1
TALL = quadrants(100, 200)


@pytest.mark.parametrize(
    ("gravity", "image", "box"),
    [
        (Gravity.CENTER, WIDE, (50, 0, 150, 100)),
        (Gravity.WEST, WIDE, (0, 0, 100, 100)),
        (Gravity.EAST, WIDE, (100, 0, 200, 100)),
        (Gravity.NORTH_WEST, WIDE, (0, 0, 100, 100)),
        (Gravity.SOUTH_EAST, WIDE, (100, 0, 200, 100)),
        (Gravity.NORTH, WIDE, (50, 0, 150, 100)),
        (Gravity.NORTH, TALL, (0, 0, 100, 100)),
        (Gravity.SOUTH, TALL, (0, 100, 100, 200)),
        (Gravity.CENTER, TALL, (0, 50, 100, 150)),
        (Gravity.NORTH_EAST, TALL, (0, 0, 100, 100)),
        (Gravity.SOUTH_WEST, TALL, (0, 100, 100, 200)),
    ],
)
def test_compass_gravities_keep_their_side(
    gravity: Gravity, image: Image.Image, box: tuple[int, int, int, int]
) -> None:
    filled = Fill(60, 60, gravity).apply(image)
    assert filled.size == (60, 60)
    assert similarity(filled, kept(image, box, (60, 60))) > 0.97


@pytest.mark.parametrize(
    ("focus", "box"),
    [
        ((0.95, 0.5), (100, 0, 200, 100)),
        ((0.05, 0.5), (0, 0, 100, 100)),
        ((0.6, 0.1), (70, 0, 170, 100)),
    ],
)
def test_focus_keeps_the_point_in_frame_as_centred_as_it_can(
    focus: tuple[float, float], box: tuple[int, int, int, int]
) -> None:
    filled = Fill(50, 50, Gravity.FOCUS, *focus).apply(WIDE)
    assert similarity(filled, kept(WIDE, box, (50, 50))) > 0.97


def test_a_small_image_is_scaled_up_to_cover_the_box() -> None:
    filled = Fill(300, 100).apply(quadrants(40, 40))
    assert filled.size == (300, 100)
    # The middle band of the square: red | green on top is cropped to its lower half.
    assert similarity(filled, kept(quadrants(40, 40), (0, 13, 40, 27), (300, 100))) > 0.95


def test_alpha_survives() -> None:
    image = quadrants(80, 40).convert("RGBA")
    assert Fill(20, 20).apply(image).mode == "RGBA"


def _wide_with(right: Image.Image, left: Image.Image) -> Image.Image:
    canvas = Image.new("RGB", (1500, 500), (128, 128, 128))
    canvas.paste(left.resize((500, 500)), (0, 0))
    canvas.paste(right.resize((500, 500)), (1000, 0))
    return canvas


def _busy(seed: int = 1) -> Image.Image:
    """Saturated, edgy noise: the most 'salient' thing a measure of edges and colour sees."""
    noise = np.random.default_rng(seed).integers(0, 256, (50, 50, 3), dtype=np.uint8)
    return Image.fromarray(noise).resize((500, 500), Image.Resampling.NEAREST)


def test_faces_keep_an_off_centre_face_that_attention_would_lose() -> None:
    portrait = Image.open(PORTRAIT).convert("RGB")
    image = _wide_with(right=portrait, left=_busy())
    # Her face, labelled by eye: 36-50% across and 14-30% down the portrait.
    face = (1000 + 0.36 * 500, 0.14 * 500, 1000 + 0.50 * 500, 0.30 * 500)
    step = Fill(200, 200, Gravity.FACES)
    left, top, right, bottom = step.source_box(image)
    assert (left, top) <= (face[0], face[1])
    assert right >= face[2]
    assert bottom >= face[3]
    box = (round(left), round(top), round(right), round(bottom))
    assert similarity(step.apply(image), kept(image, box, (200, 200))) > 0.98
    # Attention alone is drawn to the noise on the left.
    assert Fill(200, 200, Gravity.ATTENTION).source_box(image)[2] <= 600


def test_faces_fall_back_to_attention_when_there_is_none() -> None:
    image = _wide_with(right=_busy(2), left=Image.new("RGB", (10, 10), (90, 90, 90)))
    faces = Fill(200, 200, Gravity.FACES).apply(image)
    assert similarity(faces, Fill(200, 200, Gravity.ATTENTION).apply(image)) > 0.999
    assert similarity(faces, kept(image, (1000, 0, 1500, 500), (200, 200))) > 0.9


def test_attention_finds_a_saturated_subject_on_a_dull_ground() -> None:
    image = Image.new("RGB", (900, 300), (200, 200, 200))
    image.paste(Image.new("RGB", (120, 120), (230, 40, 40)), (90, 90))
    filled = Fill(100, 100, Gravity.ATTENTION).apply(image)
    assert similarity(filled, kept(image, (0, 0, 300, 300), (100, 100))) > 0.95


def test_entropy_keeps_the_detailed_end() -> None:
    flat = Image.new("RGB", (10, 10), (40, 90, 160))
    image = _wide_with(right=flat, left=_busy(3))
    filled = Fill(100, 100, Gravity.ENTROPY).apply(image)
    assert similarity(filled, kept(image, (0, 0, 500, 500), (100, 100))) > 0.9


@pytest.mark.parametrize("size", [(1, 1), (7, 300), (300, 7), (1000, 3), (333, 333)])
@pytest.mark.parametrize("gravity", list(Gravity))
def test_the_planned_size_is_the_size_produced(size: tuple[int, int], gravity: Gravity) -> None:
    focus = (0.3, 0.7) if gravity is Gravity.FOCUS else (None, None)
    step = Fill(31, 17, gravity, *focus)
    image = Image.new("RGB", size, (10, 20, 30))
    assert step.apply(image).size == step.planned_size(size) == (31, 17)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((10, 10, Gravity.FOCUS), "needs focusX and focusY"),
        ((10, 10, Gravity.FOCUS, 0.5), "needs focusX and focusY"),
        ((10, 10, Gravity.CENTER, 0.5, 0.5), "apply only with gravity FOCUS"),
        ((10, 10, Gravity.FOCUS, 1.5, 0.5), "fill.focusX must be between 0 and 1"),
        ((0, 10), "fill.width must be between 1 and 65535"),
    ],
)
def test_bad_arguments_are_bad_input(arguments: tuple[object, ...], message: str) -> None:
    with pytest.raises(ImgflowError) as error:
        Fill(*arguments)  # type: ignore[arg-type]
    assert error.value.code is ErrorCode.BAD_USER_INPUT
    assert message in error.value.message
