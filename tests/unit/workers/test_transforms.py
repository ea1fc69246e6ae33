"""Each operation on one frame, checked against references computed with numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from skimage.filters import gaussian

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.operations import (
    OPERATION_TYPES,
    Blur,
    Convert,
    Crop,
    Flip,
    FlipDirection,
    ForceResize,
    Grayscale,
    Operation,
    Resize,
    Rotate,
    Sharpen,
)
from imgflow.imaging.sizes import output_size
from tests.imaging import (
    BLUE,
    RED,
    WHITE,
    colour_at,
    near,
    pixels,
    quadrants,
    similarity,
    with_alpha,
)
from workers import transforms as ops


def test_every_operation_is_registered() -> None:
    assert {"rotate", "resize", "force_resize", "convert", "crop", "flip"} <= set(OPERATION_TYPES)
    assert {"grayscale", "blur", "sharpen"} <= set(OPERATION_TYPES)


@pytest.mark.parametrize(("degrees", "turns"), [(90, 1), (180, 2), (270, 3), (-90, 3), (-270, 1)])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA"])
def test_right_angle_rotation_is_exact_and_counter_clockwise(
    degrees: int, turns: int, mode: str
) -> None:
    image = quadrants().convert(mode)
    rotated = ops.apply(image, Rotate(degrees))
    assert rotated.mode == mode
    np.testing.assert_array_equal(pixels(rotated), np.rot90(pixels(image), turns))


@pytest.mark.parametrize("degrees", [0, 360, -360])
def test_full_turns_change_nothing(degrees: int) -> None:
    image = quadrants()
    np.testing.assert_array_equal(pixels(ops.apply(image, Rotate(degrees))), pixels(image))


def _marker(mode: str = "RGB") -> Image.Image:
    """Grey canvas with a red block right of centre, at (+24, 0) from the centre."""
    image = Image.new("RGB", (64, 48), (128, 128, 128))
    image.paste(RED, (52, 20, 60, 28))
    return image.convert(mode)


def test_arbitrary_angle_expands_fills_white_and_turns_counter_clockwise() -> None:
    rotated = ops.apply(_marker(), Rotate(30))
    width, height = rotated.size
    assert width > 64
    assert height > 48
    for corner in [(0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)]:
        assert colour_at(rotated, *corner)[:3] == WHITE
    # Counter-clockwise on screen (y down): (24, 0) goes to (24 cos 30, -24 sin 30).
    x = round(width / 2 + 24 * math.cos(math.radians(30)))
    y = round(height / 2 - 24 * math.sin(math.radians(30)))
    assert near(colour_at(rotated, x, y)[:3], RED, 20)
    assert near(colour_at(rotated, width // 2, height // 2)[:3], (128, 128, 128), 4)


def test_arbitrary_angle_with_alpha_has_transparent_corners() -> None:
    rotated = ops.apply(_marker("RGBA"), Rotate(-45))
    assert rotated.mode == "RGBA"
    assert colour_at(rotated, 0, 0)[3] == 0
    assert colour_at(rotated, rotated.width // 2, rotated.height // 2)[3] == 255


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (Resize(32, 32), (32, 24)),
        (Resize(width=16), (16, 12)),
        (Resize(height=12), (16, 12)),
        (Resize(width=128), (128, 96)),  # upscaling: the client asked for it
        (Resize(100, 24), (32, 24)),
    ],
)
def test_resize_fits_inside_the_box_keeping_aspect(spec: Resize, expected: tuple[int, int]) -> None:
    resized = ops.apply(quadrants(), spec)
    assert resized.size == expected
    assert similarity(resized, quadrants(*expected)) > 0.9


def test_resize_never_produces_a_zero_side() -> None:
    assert output_size((1000, 2), Resize(width=10)) == (10, 1)
    assert ops.apply(Image.new("RGB", (1000, 2)), Resize(width=10)).size == (10, 1)


def test_force_resize_ignores_aspect() -> None:
    resized = ops.apply(quadrants(), ForceResize(40, 40))
    assert resized.size == (40, 40)
    assert similarity(resized, quadrants(40, 40)) > 0.9


def test_crop_keeps_exactly_the_rectangle() -> None:
    image = quadrants()
    cropped = ops.apply(image, Crop(left=20, top=10, width=30, height=25))
    np.testing.assert_array_equal(pixels(cropped), pixels(image)[10:35, 20:50])


def test_crop_touching_the_edges_is_allowed() -> None:
    assert ops.apply(quadrants(), Crop(left=4, top=8, width=60, height=40)).size == (60, 40)


@pytest.mark.parametrize("crop", [Crop(60, 0, 5, 10), Crop(0, 40, 10, 9), Crop(0, 0, 65, 48)])
def test_crop_outside_the_image_is_an_invalid_operation(crop: Crop) -> None:
    with pytest.raises(ImgflowError) as caught:
        ops.apply(quadrants(), crop)
    assert caught.value.code is ErrorCode.INVALID_OPERATION
    assert "64x48" in caught.value.message


@pytest.mark.parametrize(
    ("direction", "reference"),
    [(FlipDirection.HORIZONTAL, np.fliplr), (FlipDirection.VERTICAL, np.flipud)],
)
def test_flip_mirrors(direction: FlipDirection, reference: object) -> None:
    image = quadrants()
    flipped = ops.apply(image, Flip(direction))
    assert callable(reference)
    np.testing.assert_array_equal(pixels(flipped), reference(pixels(image)))


def test_grayscale_uses_luma_and_keeps_alpha() -> None:
    alpha = np.full((48, 64), 255)
    alpha[:, :8] = 0
    gray = ops.apply(with_alpha(quadrants(), alpha), Grayscale())
    assert gray.mode == "LA"
    luma = pixels(quadrants()).astype(float) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(pixels(gray)[..., 0], luma, atol=1)
    np.testing.assert_array_equal(pixels(gray)[..., 1], alpha)
    assert ops.apply(quadrants(), Grayscale()).mode == "L"


def test_blur_matches_a_gaussian() -> None:
    blurred = ops.apply(quadrants(), Blur(radius=3))
    reference = gaussian(pixels(quadrants()) / 255, sigma=3, channel_axis=2, mode="nearest")
    assert similarity(blurred, (reference * 255).round().astype(np.uint8)) > 0.97
    assert similarity(blurred, quadrants()) < 0.97


def test_blur_does_not_darken_edges_next_to_transparency() -> None:
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (10, 10, 30, 30))
    blurred = ops.apply(image, Blur(radius=4))
    red, green, blue, alpha = colour_at(blurred, 9, 20)
    assert 0 < alpha < 255
    assert red > 240
    assert green < 10
    assert blue < 10


def _soft_edge() -> Image.Image:
    step = np.zeros((32, 32, 3), np.uint8)
    step[:, 16:] = 200
    return Image.fromarray(step).resize((64, 64), Image.Resampling.BILINEAR)


def test_sharpen_steepens_edges() -> None:
    image = _soft_edge()
    sharpened = ops.apply(image, Sharpen(radius=2, percent=200, threshold=0))
    row = pixels(image)[32, :, 0].astype(int)
    sharp_row = pixels(sharpened)[32, :, 0].astype(int)
    assert np.abs(np.diff(sharp_row)).max() > np.abs(np.diff(row)).max()


def test_sharpen_leaves_alpha_alone() -> None:
    alpha = np.tile(np.linspace(0, 255, 64), (64, 1))
    image = with_alpha(_soft_edge(), alpha)
    sharpened = ops.apply(image, Sharpen())
    assert sharpened.mode == "RGBA"
    np.testing.assert_array_equal(pixels(sharpened)[..., 3], pixels(image)[..., 3])


def test_convert_leaves_pixels_alone() -> None:
    image = quadrants()
    assert ops.apply(image, Convert(ImageFormat.PNG)) is image


PLANNED: list[Operation] = [
    Rotate(90),
    Rotate(30),
    Rotate(45),
    Rotate(-123),
    Rotate(17),
    Rotate(359),
    Resize(33, 33),
    Resize(height=7),
    ForceResize(5, 90),
    Crop(1, 2, 30, 40),
    Flip(FlipDirection.VERTICAL),
    Grayscale(),
    Blur(1.5),
    Sharpen(),
    Convert(ImageFormat.WEBP),
]


@pytest.mark.parametrize("op", PLANNED, ids=repr)
@pytest.mark.parametrize("size", [(64, 48), (37, 91)])
def test_planned_size_is_the_size_produced(op: Operation, size: tuple[int, int]) -> None:
    image = Image.new("RGBA", size, (*BLUE, 255))
    assert ops.apply(image, op).size == output_size(size, op)
