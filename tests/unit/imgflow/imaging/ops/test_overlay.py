"""overlay: the other picture lands where the gravity says, at its scale and opacity,
its transparency respected."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.ops.overlay import Overlay
from imgflow.imaging.placement import Gravity
from tests.imaging import colour_at, near, pixels, quadrants, similarity

GROUND = (40, 40, 40)
LOGO_ID = "logo-job"


def logo() -> Image.Image:
    """A 40 x 20 quadrants logo whose right half is transparent."""
    picture = quadrants(40, 20).convert("RGBA")
    alpha = np.full((20, 40), 255, np.uint8)
    alpha[:, 20:] = 0
    picture.putalpha(Image.fromarray(alpha))
    return picture


def placed(step: Overlay, frame: Image.Image | None = None) -> Image.Image:
    frame = frame or Image.new("RGB", (200, 100), GROUND)
    return step.with_sources({LOGO_ID: logo()}).apply(frame)


def test_the_logo_sits_in_the_corner_inside_the_margin() -> None:
    out = placed(Overlay(LOGO_ID, Gravity.SOUTH_EAST, margin=10))
    assert out.mode == "RGB"
    assert similarity(out.crop((150, 70, 170, 90)), logo().crop((0, 0, 20, 20))) > 0.95
    assert near(colour_at(out, 180, 80), GROUND, tolerance=0)  # its transparent half
    assert near(colour_at(out, 140, 80), GROUND, tolerance=0)  # outside it
    assert near(colour_at(out, 175, 95), GROUND, tolerance=0)  # the margin


def test_scale_sets_its_width_as_a_share_of_the_picture() -> None:
    out = placed(Overlay(LOGO_ID, Gravity.NORTH_WEST, scale=0.5, margin=0))
    scaled = logo().resize((100, 50), Image.Resampling.LANCZOS).convert("RGB")
    assert similarity(out.crop((0, 0, 48, 48)), scaled.crop((0, 0, 48, 48))) > 0.9


def test_opacity_blends() -> None:
    out = placed(Overlay(LOGO_ID, Gravity.CENTER, opacity=0.5))
    red = (220, 30, 30)
    expected = tuple(round((g + r) / 2) for g, r in zip(GROUND, red, strict=True))
    assert near(colour_at(out, 85, 45), expected, tolerance=3)


def test_a_big_logo_is_shrunk_into_the_room_left() -> None:
    out = placed(Overlay(LOGO_ID, Gravity.CENTER, margin=5), Image.new("RGB", (30, 30), GROUND))
    assert out.size == (30, 30)
    assert not np.all(pixels(out) == GROUND)


def test_no_room_inside_the_margin_is_an_invalid_operation() -> None:
    with pytest.raises(ImgflowError) as error:
        placed(Overlay(LOGO_ID, margin=50), Image.new("RGB", (80, 80)))
    assert error.value.code is ErrorCode.INVALID_OPERATION


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"gravity": Gravity.ENTROPY}, "overlay.gravity must be one of"),
        ({"scale": 0}, "overlay.scale must be between 0.01 and 1"),
        ({"opacity": -0.1}, "overlay.opacity must be between 0 and 1"),
    ],
)
def test_bad_arguments_are_bad_input(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ImgflowError) as error:
        Overlay(LOGO_ID, **arguments)  # type: ignore[arg-type]
    assert error.value.code is ErrorCode.BAD_USER_INPUT
    assert message in error.value.message
