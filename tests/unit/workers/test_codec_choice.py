"""`convert { format: AUTO }` keeps the smallest real encode; `convert { maxBytes }` the
highest quality that fits. Judged by the bytes delivered and by the picture."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat, OutputFormat
from imgflow.imaging.info import ImageLimits
from imgflow.imaging.leash import Deadline
from imgflow.imaging.operations import Convert
from tests.imaging import (
    colour_at,
    frames_of,
    open_bytes,
    quadrants,
    similarity,
    to_bytes,
    with_alpha,
)
from workers.codec import Frames, encode, encode_chosen
from workers.codec.choice import Encoded, highest_fitting
from workers.pipeline import render

LIMITS = ImageLimits()


def photo() -> Image.Image:
    """A real photograph (scikit-image ships it), 240x180: what lossy codecs are for."""
    return Image.fromarray(data.astronaut()).crop((0, 40, 512, 424)).resize((240, 180))


def frames(*images: Image.Image) -> Frames:
    return Frames(list(images), [0] * len(images), 0, None, Deadline(60))


def size_of(image: Image.Image, fmt: ImageFormat | str, quality: int | None = None) -> int:
    return len(encode([image], [0], 0, ImageFormat(fmt), quality))


# --- AUTO --------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", [None, 30, 75])
def test_auto_keeps_the_smallest_of_webp_avif_and_jpeg(quality: int | None) -> None:
    image = photo()
    chosen = encode_chosen(frames(image), Convert(OutputFormat.AUTO, quality))
    sizes = {fmt: size_of(image, fmt, quality) for fmt in ("WEBP", "AVIF", "JPEG")}
    assert len(chosen.data) == min(sizes.values())
    assert chosen.format.value == min(sizes, key=lambda fmt: sizes[fmt])
    assert open_bytes(chosen.data).format == chosen.format.value
    assert similarity(open_bytes(chosen.data), image) > 0.8


def test_auto_never_flattens_alpha_into_jpeg() -> None:
    alpha = np.full((180, 240), 255)
    alpha[:, :120] = 0  # the left half is transparent
    image = with_alpha(photo(), alpha)
    chosen = encode_chosen(frames(image), Convert(OutputFormat.AUTO, 60))
    assert chosen.format in {ImageFormat.WEBP, ImageFormat.AVIF, ImageFormat.PNG}
    result = open_bytes(chosen.data)
    assert colour_at(result, 30, 90)[3] == 0
    assert colour_at(result, 200, 90)[3] == 255
    assert similarity(result.crop((120, 0, 240, 180)), image.crop((120, 0, 240, 180))) > 0.85


def test_auto_writes_flat_colour_losslessly_when_that_is_smallest() -> None:
    image = quadrants(400, 300)
    chosen = encode_chosen(frames(image), Convert(OutputFormat.AUTO, 90))
    candidates = {fmt: size_of(image, fmt, 90) for fmt in ("WEBP", "AVIF", "PNG")}
    assert chosen.format.value == min(candidates, key=lambda fmt: candidates[fmt])
    if chosen.format is ImageFormat.PNG:
        assert np.array_equal(np.asarray(open_bytes(chosen.data)), np.asarray(image))
    assert similarity(open_bytes(chosen.data), image) > 0.98


def test_auto_keeps_an_animation_animated() -> None:
    shots = [quadrants(64, 48).rotate(90 * i) for i in range(3)]
    data = to_bytes(shots[0], "GIF", save_all=True, append_images=shots[1:], duration=80)
    result = render(data, [Convert(OutputFormat.AUTO)], LIMITS)
    assert result.info.format in {ImageFormat.WEBP, ImageFormat.AVIF}
    assert result.info.frames == 3
    for got, expected in zip(frames_of(result.data), shots, strict=True):
        assert similarity(got, expected) > 0.8


# --- maxBytes ----------------------------------------------------------------------------


def test_max_bytes_gets_the_highest_jpeg_quality_that_fits() -> None:
    image = photo()
    sizes = {q: size_of(image, ImageFormat.JPEG, q) for q in range(1, 101)}
    budget = sizes[40] + 1
    chosen = encode_chosen(frames(image), Convert(OutputFormat.JPEG, max_bytes=budget))
    assert len(chosen.data) <= budget
    best = max(q for q, size in sizes.items() if size <= budget)
    assert len(chosen.data) == sizes[best]


@pytest.mark.parametrize("fmt", [OutputFormat.WEBP, OutputFormat.AVIF, OutputFormat.JXL])
def test_max_bytes_fits_and_a_bigger_budget_looks_better(fmt: OutputFormat) -> None:
    image = photo()
    tight = encode_chosen(frames(image), Convert(fmt, max_bytes=4_000))
    roomy = encode_chosen(frames(image), Convert(fmt, max_bytes=20_000))
    assert len(tight.data) <= 4_000
    assert len(roomy.data) <= 20_000
    assert similarity(open_bytes(tight.data), image) > 0.8
    assert similarity(open_bytes(roomy.data), image) > 0.95
    assert similarity(open_bytes(roomy.data), image) > similarity(open_bytes(tight.data), image)


def test_max_bytes_never_exceeds_the_quality_asked() -> None:
    image = photo()
    chosen = encode_chosen(frames(image), Convert(OutputFormat.JPEG, 30, max_bytes=10**9))
    assert len(chosen.data) == size_of(image, ImageFormat.JPEG, 30)


def test_max_bytes_with_auto_fits() -> None:
    image = photo()
    chosen = encode_chosen(frames(image), Convert(OutputFormat.AUTO, max_bytes=3_000))
    assert len(chosen.data) <= 3_000
    assert similarity(open_bytes(chosen.data), image) > 0.8


@pytest.mark.parametrize(("fmt", "budget"), [(OutputFormat.JPEG, 300), (OutputFormat.PNG, 5_000)])
def test_output_too_large_when_nothing_fits(fmt: OutputFormat, budget: int) -> None:
    with pytest.raises(ImgflowError) as caught:
        encode_chosen(frames(photo()), Convert(fmt, max_bytes=budget))
    assert caught.value.code is ErrorCode.OUTPUT_TOO_LARGE
    assert f"{budget:,} bytes" in caught.value.message


def test_lossless_format_that_fits_is_kept() -> None:
    image = quadrants(64, 48)
    chosen = encode_chosen(frames(image), Convert(OutputFormat.PNG, max_bytes=10_000))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(chosen.data))), np.asarray(image))


def test_max_bytes_below_the_floor_is_bad_input() -> None:
    with pytest.raises(ImgflowError) as caught:
        Convert(OutputFormat.WEBP, max_bytes=99)
    assert caught.value.code is ErrorCode.BAD_USER_INPUT


def test_bisection_needs_about_log2_encodes() -> None:
    sizes = {q: 1_000 + 37 * q for q in range(1, 101)}
    asked: list[int] = []

    def encode_at(quality: int) -> Encoded:
        asked.append(quality)
        return Encoded(bytes(sizes[quality]), ImageFormat.JPEG)

    found = highest_fitting(encode_at, 100, encode_at(100), sizes[63])
    assert found is not None
    assert len(found.data) == sizes[63]
    assert len(asked) <= 2 + 7
    assert highest_fitting(encode_at, 100, encode_at(100), sizes[1] - 1) is None
