"""Whole jobs: bytes and operations in, bytes and output info out."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.info import ImageLimits
from imgflow.imaging.operations import (
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
from imgflow.imaging.ops.fill import Fill
from imgflow.imaging.ops.pad import Pad
from tests.corpus import corpus_dir
from tests.imaging import (
    RED,
    colour_at,
    durations_of,
    near,
    oriented_jpeg,
    pixels,
    quadrants,
    similarity,
    to_bytes,
)
from workers import codec
from workers.pipeline import Rendered, render, shrink_target

LIMITS = ImageLimits()


def _open(rendered: Rendered) -> Image.Image:
    image = Image.open(io.BytesIO(rendered.data))
    image.load()
    return image


def test_info_describes_the_output() -> None:
    rendered = render(to_bytes(quadrants(), "PNG"), [Rotate(90), Convert(ImageFormat.WEBP)], LIMITS)
    image = _open(rendered)
    assert image.format == "WEBP"
    assert image.size == (48, 64)
    info = rendered.info
    assert (info.format, info.width, info.height, info.frames) == (ImageFormat.WEBP, 48, 64, 1)
    assert info.bytes == len(rendered.data)


def test_output_keeps_the_source_format_without_convert() -> None:
    rendered = render(to_bytes(quadrants(), "BMP"), [Flip(FlipDirection.VERTICAL)], LIMITS)
    assert rendered.info.format is ImageFormat.BMP
    np.testing.assert_array_equal(pixels(_open(rendered)), np.flipud(pixels(quadrants())))


def test_the_last_convert_wins_with_its_quality() -> None:
    data = to_bytes(Image.effect_noise((64, 64), 60).convert("RGB"), "PNG")
    low = render(data, [Convert(ImageFormat.PNG), Convert(ImageFormat.JPEG, 10)], LIMITS)
    high = render(data, [Convert(ImageFormat.JPEG, 95)], LIMITS)
    assert low.info.format is ImageFormat.JPEG
    assert low.info.bytes < high.info.bytes


def test_mpo_source_is_written_as_jpeg() -> None:
    frames = [quadrants(), quadrants().rotate(180)]
    data = to_bytes(frames[0], "MPO", save_all=True, append_images=frames[1:])
    rendered = render(data, [Grayscale()], LIMITS)
    assert rendered.info.format is ImageFormat.JPEG
    assert rendered.info.frames == 1
    assert _open(rendered).format == "JPEG"


def test_operations_apply_in_order() -> None:
    data = to_bytes(quadrants(), "PNG")
    reference = np.rot90(pixels(quadrants()), 1)[5:25, 10:40]
    rendered = render(data, [Rotate(90), Crop(left=10, top=5, width=30, height=20)], LIMITS)
    np.testing.assert_array_equal(pixels(_open(rendered)), reference)


def test_output_is_upright_before_operations_run() -> None:
    data = oriented_jpeg(quadrants(), 6)
    rendered = render(data, [Crop(0, 0, 32, 24), Convert(ImageFormat.PNG)], LIMITS)
    assert near(colour_at(_open(rendered), 16, 12)[:3], RED, 16)


def test_a_result_over_the_pixel_limit_fails_before_any_work() -> None:
    with pytest.raises(ImgflowError) as caught:
        render(to_bytes(quadrants(), "PNG"), [Resize(width=60_000)], LIMITS)
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE


def test_a_side_over_the_codec_limit_is_too_large() -> None:
    data = to_bytes(Image.new("RGB", (1000, 1)), "PNG")
    with pytest.raises(ImgflowError) as caught:
        render(data, [Resize(height=100)], LIMITS)  # 100,000 x 100: few pixels, too wide
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE


def test_a_crop_outside_the_image_is_invalid() -> None:
    with pytest.raises(ImgflowError) as caught:
        render(to_bytes(quadrants(), "PNG"), [Resize(width=32), Crop(0, 0, 64, 48)], LIMITS)
    assert caught.value.code is ErrorCode.INVALID_OPERATION


def _gif(count: int = 4) -> bytes:
    frames = [quadrants().rotate(90 * i, expand=False) for i in range(count)]
    return to_bytes(
        frames[0],
        "GIF",
        save_all=True,
        append_images=frames[1:],
        duration=[70, 80, 90, 100],
        loop=0,
    )


@pytest.mark.parametrize("fmt", [ImageFormat.GIF, ImageFormat.WEBP, ImageFormat.PNG])
def test_resized_animation_keeps_frames_durations_and_loop(fmt: ImageFormat) -> None:
    rendered = render(_gif(), [Resize(32, 32), Convert(fmt)], LIMITS)
    assert rendered.info.frames == 4
    assert (rendered.info.width, rendered.info.height) == (32, 24)
    assert durations_of(rendered.data) == [70, 80, 90, 100]
    assert _open(rendered).info.get("loop") == 0


@pytest.mark.parametrize("source", ["WEBP", "PNG"])
def test_animated_webp_and_apng_sources_stay_animated(source: str) -> None:
    frames = [
        quadrants(),
        quadrants().rotate(180),
        quadrants().transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    ]
    data = to_bytes(
        frames[0],
        source,
        save_all=True,
        append_images=frames[1:],
        duration=[50, 60, 70],
        loop=3,
        lossless=True,
    )
    rendered = render(data, [Rotate(270)], LIMITS)
    assert rendered.info.format.value == source
    assert rendered.info.frames == 3
    assert durations_of(rendered.data) == [50, 60, 70]
    assert _open(rendered).info.get("loop") == 3
    output = Image.open(io.BytesIO(rendered.data))
    output.seek(1)
    expected = np.rot90(pixels(frames[1]), 3)
    assert similarity(output.convert("RGB"), expected) > (0.99 if source == "PNG" else 0.9)


def test_animation_into_a_still_format_keeps_the_first_frame() -> None:
    rendered = render(_gif(), [Convert(ImageFormat.JPEG)], LIMITS)
    assert rendered.info.frames == 1
    assert similarity(_open(rendered), quadrants()) > 0.9


def test_tiff_pages_stay_pages_only_in_tiff() -> None:
    pages = [quadrants(), quadrants().rotate(180)]
    data = to_bytes(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert render(data, [Flip(FlipDirection.HORIZONTAL)], LIMITS).info.frames == 2
    assert render(data, [Convert(ImageFormat.GIF)], LIMITS).info.frames == 1


# --- shrink-on-load ---------------------------------------------------------------------


def _photo(width: int, height: int) -> Image.Image:
    """Quadrants under smooth ripples: detail a 1/8 draft would lose if it were used."""
    y, x = np.mgrid[0:height, 0:width]
    ripple = 40 * np.sin(x / 9.0) * np.cos(y / 13.0)
    base = pixels(quadrants(width, height)).astype(float)
    return Image.fromarray(np.clip(base + ripple[..., None], 0, 255).astype(np.uint8))


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([Resize(400, 300)], (400, 300)),
        ([ForceResize(100, 500)], (100, 500)),
        ([Resize(2000)], None),  # upscaling
        ([Fill(400, 400)], (534, 400)),  # covers the box
        ([Pad(400, 400)], None),  # its band would move by the draft's rounding
        ([Fill(2000, 100)], None),
        ([Grayscale(), Resize(100)], None),  # not the first step
        ([Rotate(90)], None),
        ([], None),
    ],
)
def test_shrink_target(steps: Sequence[Operation], expected: tuple[int, int] | None) -> None:
    assert shrink_target(steps, (1600, 1200)) == expected


@pytest.mark.parametrize("orientation", [1, 6])
@pytest.mark.parametrize(
    "op",
    [Resize(width=150), Resize(151, 97), ForceResize(99, 77), Fill(99, 77)],
    ids=repr,
)
def test_shrink_on_load_never_changes_the_result_size(orientation: int, op: Operation) -> None:
    upright = _photo(1601, 1203)
    data = oriented_jpeg(upright, orientation)
    drafted = codec.decode(data, LIMITS, shrink=lambda size: (150, 113))
    assert drafted.size == (1601, 1203)
    assert drafted.frames[0].width < 1601  # libjpeg really decoded at a reduced scale
    rendered = render(data, [op, Convert(ImageFormat.PNG)], LIMITS)
    expected = op.planned_size(upright.size)
    assert (rendered.info.width, rendered.info.height) == expected
    full = op.apply(upright)  # the same step on the full-size source
    assert similarity(_open(rendered), full) > 0.98


# --- the shared corpus ------------------------------------------------------------------

CORPUS = corpus_dir()
PIPELINES: dict[str, list[Operation]] = {
    "rotate90": [Rotate(90)],
    "resize200": [Resize(200, 200)],
    "force100x80": [ForceResize(100, 80)],
    "png": [Convert(ImageFormat.PNG)],
}


def _manifest() -> list[dict[str, str]]:
    if CORPUS is None:
        return []
    with (CORPUS / "MANIFEST.tsv").open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _verdict(row: dict[str, str]) -> str:
    """process, reject, or either, from the manifest's expected behaviour."""
    expected = row["expected_service_behaviour"]
    if "rejecting is also acceptable" in expected:
        return "either"
    if expected.startswith("process if the service enables pillow-heif"):
        return "process"  # imgflow reads HEIC/HEIF with pi-heif (pillow-heif's decoder)
    return "reject" if expected.startswith("reject") else "process"


ROWS = _manifest()
needs_corpus = pytest.mark.skipif(
    CORPUS is None, reason="shared corpus not found (../shared/corpus or IMGFLOW_CORPUS_DIR)"
)


def _cases(verdicts: set[str]) -> list[object]:
    if not ROWS:
        return [pytest.param(None, None, marks=needs_corpus)]
    return [
        pytest.param(row["file"], name, id=f"{row['file']}-{name}")
        for row in ROWS
        if _verdict(row) in verdicts
        for name in PIPELINES
    ]


def _corpus_bytes(name: str) -> bytes:
    assert CORPUS is not None
    return (CORPUS / name).read_bytes()


@needs_corpus
@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's notes on odd TIFF tags
@pytest.mark.parametrize(("name", "pipeline"), _cases({"process", "either"}))
def test_corpus_file_is_processed(name: str, pipeline: str) -> None:
    verdict = _verdict(next(row for row in ROWS if row["file"] == name))
    try:
        rendered = render(_corpus_bytes(name), PIPELINES[pipeline], LIMITS)
    except ImgflowError:
        if verdict == "either":
            return
        raise
    image = Image.open(io.BytesIO(rendered.data))
    assert image.format == rendered.info.format.value
    assert image.size == (rendered.info.width, rendered.info.height)
    assert getattr(image, "n_frames", 1) == rendered.info.frames


@needs_corpus
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(("name", "pipeline"), _cases({"reject"}))
def test_corpus_file_is_rejected_cleanly(name: str, pipeline: str) -> None:
    with pytest.raises(ImgflowError):
        render(_corpus_bytes(name), PIPELINES[pipeline], LIMITS)


@needs_corpus
@pytest.mark.parametrize("shape", ["Landscape", "Portrait"])
def test_corpus_orientations_all_look_the_same(shape: str) -> None:
    assert CORPUS is not None
    paths = sorted((CORPUS / "jpeg" / "orientation").glob(f"recurser_{shape}_*.jpg"))
    assert len(paths) >= 8
    results = [_open(render(path.read_bytes(), [Resize(120, 120)], LIMITS)) for path in paths]
    for path, result in zip(paths, results, strict=True):
        assert similarity(result, results[0]) > 0.9, path.name
