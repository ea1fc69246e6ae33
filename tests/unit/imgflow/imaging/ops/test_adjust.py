"""adjust: each multiplier moves the picture the way it says, 1 leaves it alone."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.ops.adjust import Adjust
from tests.imaging import pixels, quadrants, with_alpha

PHOTO = quadrants(40, 40)


def test_all_ones_change_nothing() -> None:
    np.testing.assert_array_equal(pixels(Adjust().apply(PHOTO)), pixels(PHOTO))


def test_brightness_scales_the_levels() -> None:
    darker = pixels(Adjust(brightness=0.5).apply(PHOTO)).astype(int)
    assert np.abs(darker - pixels(PHOTO) // 2).max() <= 1


def test_zero_contrast_is_flat_grey_and_zero_saturation_is_grey() -> None:
    flat = pixels(Adjust(contrast=0).apply(PHOTO))
    assert np.ptp(flat) <= 1
    grey = pixels(Adjust(saturation=0).apply(PHOTO)).astype(int)
    assert np.abs(grey[..., 0] - grey[..., 2]).max() <= 1
    assert np.ptp(grey) > 50  # still light and dark: only the colour went


def test_gamma_above_one_lightens_mid_tones_and_keeps_the_ends() -> None:
    ramp = Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (4, 1)))
    lifted = pixels(Adjust(gamma=2.2).apply(ramp))[0].astype(int)
    assert lifted[0] == 0
    assert lifted[255] == 255
    assert lifted[128] > 180


def test_alpha_is_left_alone() -> None:
    alpha = np.tile(np.linspace(0, 255, 40), (40, 1))
    adjusted = Adjust(brightness=0.2, saturation=3).apply(with_alpha(PHOTO, alpha))
    assert adjusted.mode == "RGBA"
    np.testing.assert_array_equal(pixels(adjusted)[..., 3], alpha.astype(np.uint8))


@pytest.mark.parametrize("field", ["brightness", "contrast", "saturation"])
def test_out_of_range_is_bad_input(field: str) -> None:
    with pytest.raises(ImgflowError) as error:
        Adjust(**{field: -1})  # type: ignore[arg-type]
    assert error.value.code is ErrorCode.BAD_USER_INPUT
    assert f"adjust.{field} must be between 0 and 10" in error.value.message
