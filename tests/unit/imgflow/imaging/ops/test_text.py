"""text: the words appear where the gravity says, in the colour and opacity asked."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.ops.text import Text
from imgflow.imaging.placement import Gravity
from tests.imaging import pixels

NAVY = (0, 0, 80)


def inked(image: Image.Image) -> tuple[int, int, int, int]:
    """The box of the pixels that are no longer the navy ground."""
    changed = np.any(pixels(image.convert("RGB")).astype(int) != NAVY, axis=2)
    ys, xs = np.nonzero(changed)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


@pytest.mark.parametrize(
    ("gravity", "where"),
    [
        (Gravity.SOUTH_EAST, lambda box: box[2] >= 380 and box[3] >= 180),
        (Gravity.NORTH_WEST, lambda box: box[0] <= 20 and box[1] <= 20),
        (Gravity.CENTER, lambda box: abs((box[0] + box[2]) / 2 - 200) < 5),
    ],
)
def test_the_text_goes_where_the_gravity_says(gravity: Gravity, where: object) -> None:
    ground = Image.new("RGB", (400, 200), NAVY)
    box = inked(Text("Watermark", gravity, size=30, opacity=1, margin=10).apply(ground))
    assert where(box), box  # type: ignore[operator]
    assert 100 < box[2] - box[0] < 250  # about nine letters of 30 px


def test_colour_and_opacity_blend_over_the_picture() -> None:
    ground = Image.new("RGB", (200, 80), NAVY)
    solid = pixels(
        Text("█", Gravity.CENTER, size=60, color="#ff0000", opacity=1, margin=0).apply(ground)
    )
    half = pixels(
        Text("█", Gravity.CENTER, size=60, color="#ff0000", opacity=0.5, margin=0).apply(ground)
    )
    assert tuple(solid[40, 100]) == (255, 0, 0)
    assert abs(int(half[40, 100][0]) - 128) <= 2
    assert abs(int(half[40, 100][2]) - 40) <= 2


def test_unicode_the_font_covers_is_drawn() -> None:
    ground = Image.new("RGB", (300, 80), NAVY)
    assert inked(Text("Ωмир ✓", Gravity.CENTER, size=40, opacity=1).apply(ground))


def test_transparency_and_grey_survive() -> None:
    clear = Image.new("RGBA", (100, 50), (0, 0, 0, 0))
    assert Text("x", Gravity.CENTER, size=30, opacity=1, margin=0).apply(clear).mode == "RGBA"
    grey = Image.new("L", (100, 50), 30)
    assert Text("x", color="#808080", margin=0).apply(grey).mode == "L"
    assert Text("x", color="#ff0000", margin=0).apply(grey).mode == "RGB"


def test_text_too_big_for_the_picture_is_refused_before_drawing() -> None:
    with pytest.raises(ImgflowError) as error:
        Text("x" * 500, size=1000).apply(Image.new("RGB", (400, 300)))
    assert error.value.code is ErrorCode.INVALID_OPERATION
    assert "does not fit" in error.value.message


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"text": ""}, "text.text must be one line"),
        ({"text": "a\nb"}, "text.text must be one line"),
        ({"text": "x" * 501}, "text.text must be one line"),
        ({"text": "x", "gravity": Gravity.FACES}, "text.gravity must be one of"),
        ({"text": "x", "color": "white"}, "text.color must be #rrggbb"),
        ({"text": "x", "opacity": 1.5}, "text.opacity must be between 0 and 1"),
    ],
)
def test_bad_arguments_are_bad_input(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ImgflowError) as error:
        Text(**arguments)  # type: ignore[arg-type]
    assert error.value.code is ErrorCode.BAD_USER_INPUT
    assert message in error.value.message
