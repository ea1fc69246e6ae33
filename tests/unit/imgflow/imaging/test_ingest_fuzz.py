"""Property-based fuzzing of the ingest path (probe, check_pipeline) and of the worker's
render, on mutated real images: bit flips, truncations, overwritten header fields,
duplicated and spliced bytes, starting from small valid files made here and a few
small files of the shared corpus.

The property: whatever the bytes, the answer is a result or an `ImgflowError` with a
code a client knows, never another exception, and it comes within a time bound; and
the API and the worker agree on what they refuse as not an image at all.

CI runs the `ci` profile: 300 examples per property, derandomised (the same inputs on
every run), a few seconds in all. A longer, randomised hunt:

    IMGFLOW_FUZZ=long .venv/bin/pytest tests/unit/test_fuzz_ingest.py -q

(200,000 examples per property, about a quarter of an hour on 2 cores;
`IMGFLOW_FUZZ_EXAMPLES=N` sets another count.) A failure prints the smallest input
found and a `@reproduce_failure` line to replay it.
"""

from __future__ import annotations

import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, features

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.info import ImageLimits
from imgflow.imaging.ingest import check_pipeline, probe
from imgflow.imaging.operations import (
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
)
from tests.corpus import corpus_dir
from tests.imaging import animated_gif, oriented_jpeg, quadrants, to_bytes
from workers.pipeline import render

settings.register_profile(
    "ci",
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("IMGFLOW_FUZZ_EXAMPLES", "200000")),
    database=None,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow],
)
FUZZ = settings.get_profile(os.environ.get("IMGFLOW_FUZZ", "ci"))
WHOLE_RUN_SECONDS = 300 if os.environ.get("IMGFLOW_FUZZ", "ci") == "ci" else 24 * 3600
"""A hang never returns, so no per-example deadline sees it: the whole test is bounded."""

KNOWN_CODES = {
    ErrorCode.EMPTY_FILE,
    ErrorCode.UNSUPPORTED_FORMAT,
    ErrorCode.CORRUPT_IMAGE,
    ErrorCode.IMAGE_TOO_LARGE,
    ErrorCode.TOO_MANY_FRAMES,
    ErrorCode.INVALID_OPERATION,
    ErrorCode.TIME_LIMIT_EXCEEDED,
}
INGEST_LIMITS = ImageLimits()
SMALL = ImageLimits(
    max_pixels=512 * 512,
    max_frames=16,
    max_total_pixels=2_000_000,
    job_time_limit_seconds=5,
)
"""For render: small enough that any input that passes is cheap to process."""

PIPELINES: list[list[Operation]] = [
    [Rotate(90)],
    [Rotate(33)],
    [Resize(width=24)],
    [ForceResize(40, 10), Convert(ImageFormat.PNG)],
    [Crop(1, 1, 8, 8), Flip(FlipDirection.VERTICAL)],
    [Grayscale(), Convert(ImageFormat.WEBP)],
    [Blur(1.5), Convert(ImageFormat.GIF)],
    [Convert(ImageFormat.JPEG)],
    [Convert(ImageFormat.TIFF)],
    [Convert(ImageFormat.JXL)],
]
CORPUS_SEEDS = [
    "gif/static_gif87a_mini.gif",
    "gif/animated_cogs_vips.gif",
    "png/gray_pngsuite_basn0g08.png",
    "png/palette_trns_pngsuite_tbbn3p08.png",
    "png/exif_chunk_pngsuite_exif2c08.png",
    "tiff/multipage_palette_3frames.tiff",
    "tiff/g4_orientation_6.tif",
    "bmp/pal1.bmp",
    "bmp/pal8rle.bmp",
    "jpeg/orientation_rectangle_2x1_orient8.jpg",
    "webp/exif_orientation6_hopper.webp",
    "webp/animated_rotating-squares.webp",
    "heif-avif/avif_rgba_transparency.avif",
    "heif-avif/samplefilehub_640x426.heif",
]
INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF]
"""Values written over header fields: zero, one, and the edges of signed/unsigned types."""


def made_seeds() -> list[bytes]:
    still = quadrants(16, 12)
    frames = [quadrants(16, 12).rotate(90 * i) for i in range(3)]
    seeds = [
        to_bytes(still, "PNG"),
        to_bytes(still.convert("P"), "PNG", transparency=0),
        to_bytes(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=50),
        oriented_jpeg(still, 6),
        to_bytes(still, "JPEG", progressive=True),
        animated_gif(frames=3, size=(12, 10)),
        to_bytes(still, "WEBP", lossless=True),
        to_bytes(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50),
        to_bytes(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        to_bytes(still, "TIFF", compression="tiff_lzw"),
        to_bytes(still, "BMP"),
        to_bytes(still.convert("RGBA"), "BMP"),
        to_bytes(still, "JXL", effort=1),
        to_bytes(still.convert("RGBA"), "JXL", lossless=True, use_container=True),
    ]
    if features.check("avif"):
        seeds.append(to_bytes(still, "AVIF", quality=50))
    return seeds


def corpus_seeds() -> list[bytes]:
    root = corpus_dir()
    if root is None:
        return []
    paths = [root / name for name in CORPUS_SEEDS]
    return [path.read_bytes() for path in paths if path.is_file() and _small(path)]


def _small(path: Path) -> bool:
    return path.stat().st_size <= 32 * 1024


SEEDS = made_seeds() + corpus_seeds()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed with one to four mutations."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        mutation = draw(st.sampled_from(MUTATIONS))
        data = mutation(draw, data)
    return bytes(data)


def _position(draw: st.DrawFn, data: bytearray, head: int | None = None) -> int:
    """Anywhere, or (half the time) within the first `head` bytes, where headers are."""
    end = len(data) if head is None or draw(st.booleans()) else min(head, len(data))
    return draw(st.integers(0, max(end - 1, 0)))


def flip_bits(draw: st.DrawFn, data: bytearray) -> bytearray:
    if data:
        at = _position(draw, data, head=64)
        data[at] ^= draw(st.integers(1, 255))
    return data


def truncate(draw: st.DrawFn, data: bytearray) -> bytearray:
    return data[: draw(st.integers(0, len(data)))]


def overwrite_field(draw: st.DrawFn, data: bytearray) -> bytearray:
    width = draw(st.sampled_from([1, 2, 4]))
    value = draw(st.sampled_from(INTERESTING)) % (1 << (8 * width))
    order = draw(st.sampled_from(["big", "little"]))
    at = _position(draw, data, head=48)
    data[at : at + width] = value.to_bytes(width, order)
    return data


def duplicate(draw: st.DrawFn, data: bytearray) -> bytearray:
    """Repeat a slice in place: chunks, frames or IFDs a header did not announce."""
    if len(data) < 2:
        return data
    start = _position(draw, data)
    end = draw(st.integers(start + 1, min(len(data), start + 4096)))
    return data[:end] + data[start:end] * draw(st.integers(1, 8)) + data[end:]


def splice(draw: st.DrawFn, data: bytearray) -> bytearray:
    """Another file's header on this file's body."""
    other = draw(st.sampled_from(SEEDS))
    cut = draw(st.integers(0, min(len(other), len(data), 256)))
    return bytearray(other[:cut]) + data[cut:]


MUTATIONS = [flip_bits, truncate, overwrite_field, duplicate, splice]


def refused_code(error: ImgflowError) -> ErrorCode:
    assert error.code in KNOWN_CODES, error
    assert error.message
    assert "BytesIO" not in error.message
    return error.code


@pytest.mark.timeout(WHOLE_RUN_SECONDS)
@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
@FUZZ
@given(data=mutated(), pipeline=st.sampled_from(PIPELINES))
def test_ingest_answers_every_input_with_a_result_or_a_known_code(
    data: bytes, pipeline: list[Operation]
) -> None:
    try:
        info = probe(data, INGEST_LIMITS)
    except ImgflowError as error:
        refused_code(error)
        return
    assert info.bytes == len(data)
    assert 1 <= info.frames <= INGEST_LIMITS.max_frames
    assert info.width * info.height <= INGEST_LIMITS.max_pixels
    try:
        check_pipeline(info, pipeline, INGEST_LIMITS)
    except ImgflowError as error:
        refused_code(error)


@pytest.mark.timeout(WHOLE_RUN_SECONDS)
@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
@FUZZ
@given(data=mutated(), pipeline=st.sampled_from(PIPELINES))
def test_render_answers_every_small_input_with_a_result_or_a_known_code(
    data: bytes, pipeline: list[Operation]
) -> None:
    try:
        ingest_code = None
        probe(data, SMALL)
    except ImgflowError as error:
        ingest_code = refused_code(error)
    try:
        rendered = render(data, pipeline, SMALL)
    except ImgflowError as error:
        worker_code = refused_code(error)
        if ingest_code is ErrorCode.UNSUPPORTED_FORMAT:
            assert worker_code is ErrorCode.UNSUPPORTED_FORMAT  # one sniffing rule for both
        return
    assert ingest_code not in {ErrorCode.UNSUPPORTED_FORMAT, ErrorCode.EMPTY_FILE}
    with Image.open(io.BytesIO(rendered.data)) as written:
        assert written.size == (rendered.info.width, rendered.info.height)


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_every_byte_of_a_small_avif_damaged_is_answered_cleanly() -> None:
    """The fuzzer's first find: libavif reports damage as RuntimeError, which the
    worker took for a transient failure and retried. Each byte here, inverted."""
    data = to_bytes(quadrants(16, 12).convert("RGBA"), "AVIF", quality=50)
    codes = set()
    for at in range(len(data)):
        damaged = bytearray(data)
        damaged[at] ^= 0xFF
        try:
            render(bytes(damaged), [Rotate(90)], SMALL)
        except ImgflowError as error:
            codes.add(refused_code(error))
    assert ErrorCode.CORRUPT_IMAGE in codes
