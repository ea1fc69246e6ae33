"""pad: the picture fitted and centred, the margins the background colour."""

from __future__ import annotations

import pytest
from PIL import Image

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.ops.pad import Pad
from tests.imaging import colour_at, near, quadrants, similarity


def test_a_wide_picture_is_centred_between_bands_of_background() -> None:
    padded = Pad(100, 100, "#10e020").apply(quadrants(100, 50))
    assert padded.size == (100, 100)
    assert padded.mode == "RGB"
    assert near(colour_at(padded, 50, 5), (16, 224, 32), tolerance=0)
    assert near(colour_at(padded, 50, 95), (16, 224, 32), tolerance=0)
    assert similarity(padded.crop((0, 25, 100, 75)), quadrants(100, 50)) > 0.98


def test_the_default_background_is_transparent() -> None:
    padded = Pad(60, 120).apply(quadrants(60, 60))
    assert padded.mode == "RGBA"
    assert colour_at(padded, 30, 10)[3] == 0
    assert colour_at(padded, 30, 60)[3] == 255


def test_a_translucent_background_keeps_its_alpha_and_scales_up_small_pictures() -> None:
    padded = Pad(200, 100, "#ff000080").apply(quadrants(20, 20))
    assert colour_at(padded, 10, 50) == (255, 0, 0, 128)
    scaled = quadrants(20, 20).resize((100, 100), Image.Resampling.LANCZOS)
    assert similarity(padded.crop((50, 0, 150, 100)), scaled) > 0.98


def test_grey_stays_grey_on_a_grey_background() -> None:
    assert Pad(30, 10, "#808080").apply(Image.new("L", (10, 10), 20)).mode == "L"


@pytest.mark.parametrize("background", ["red", "#12345", "#1234567", "#gg0000", ""])
def test_a_bad_colour_is_bad_input(background: str) -> None:
    with pytest.raises(ImgflowError) as error:
        Pad(10, 10, background)
    assert error.value.code is ErrorCode.BAD_USER_INPUT
    assert "pad.background must be #rrggbb or #rrggbbaa" in error.value.message
