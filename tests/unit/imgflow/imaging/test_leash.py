"""Decoding under a leash: Pillow's bomb threshold from the settings, the pixel budget
across frames, frames counted before they are decoded, every step's size checked before
it is computed, and the per-job time limit."""

from __future__ import annotations

import asyncio
import io
import itertools
import struct
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import EpsImagePlugin, Image

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.info import ImageInfo, ImageLimits
from imgflow.imaging.ingest import check_pipeline, probe
from imgflow.imaging.leash import Deadline, configure_pillow
from imgflow.imaging.operations import (
    Blur,
    Convert,
    ForceResize,
    Grayscale,
    Operation,
    Resize,
    Rotate,
)
from tests.imaging import animated_gif, quadrants, to_bytes
from workers.codec import decode
from workers.pipeline import render, render_in


def code_of(call: Callable[[], object]) -> ErrorCode:
    with pytest.raises(ImgflowError) as caught:
        call()
    return caught.value.code


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[ImageLimits], None]]:
    """`configure_pillow` as a process does at start, undone after the test."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", EpsImagePlugin.gs_binary)
    with warnings.catch_warnings():
        yield configure_pillow


def grown_gif(frames: int = 2, small: int = 10, big: int = 100) -> bytes:
    """A GIF whose header and first frame say `small` x `small`, and whose later frames
    grow the canvas to `big` x `big`: only decoding them reveals the size."""
    images = [Image.new("L", (big, big), 40 + 60 * i) for i in range(frames)]
    data = bytearray(to_bytes(images[0], "GIF", save_all=True, append_images=images[1:]))
    data[6:10] = struct.pack("<HH", small, small)  # logical screen
    first = data.index(b"\x2c\x00\x00\x00\x00" + struct.pack("<HH", big, big))
    data[first + 5 : first + 9] = struct.pack("<HH", small, small)
    return bytes(data)


def apng(frames: int, declared: int) -> bytes:
    """An APNG holding `frames` frames whose acTL chunk claims `declared`."""
    images = [Image.new("RGB", (20, 20), (5 * i, 0, 0)) for i in range(frames)]
    data = bytearray(to_bytes(images[0], "PNG", save_all=True, append_images=images[1:]))
    actl = data.index(b"acTL")
    data[actl + 4 : actl + 8] = struct.pack(">I", declared)
    data[actl + 12 : actl + 16] = struct.pack(">I", zlib.crc32(data[actl : actl + 12]))
    return bytes(data)


def many_frames_at_the_limit(frames: int = 1000, side: int = 7071) -> bytes:
    """`frames` one-pixel GIF frames on a side x side canvas (just under 50 Mpx each)."""
    images = [Image.new("L", (1, 1), i % 256) for i in range(frames)]
    data = bytearray(to_bytes(images[0], "GIF", save_all=True, append_images=images[1:]))
    data[6:10] = struct.pack("<HH", side, side)
    return bytes(data)


def noise_png(side: int) -> bytes:
    pixels = np.random.default_rng(7).integers(0, 255, (side, side, 3), np.uint8)
    return to_bytes(Image.fromarray(pixels), "PNG", compress_level=1)


class Ticks:
    """A clock that advances one second each time it is read."""

    def __init__(self) -> None:
        self.now = itertools.count()

    def __call__(self) -> float:
        return float(next(self.now))


# --- Pillow's threshold, set once from the settings -------------------------------------


def test_pillows_limit_is_the_setting_and_its_warning_an_error(
    configured: Callable[[ImageLimits], None],
) -> None:
    configured(ImageLimits(max_pixels=6_000))
    assert Image.MAX_IMAGE_PIXELS == 6_000
    data = to_bytes(quadrants(100, 80), "PNG")  # 8000 px: Pillow would only warn
    with pytest.raises(Image.DecompressionBombWarning):
        Image.open(io.BytesIO(data))
    generous = ImageLimits(max_pixels=10**9)
    assert code_of(lambda: probe(data, generous)) is ErrorCode.IMAGE_TOO_LARGE
    assert code_of(lambda: decode(data, generous)) is ErrorCode.IMAGE_TOO_LARGE
    assert not EpsImagePlugin.has_ghostscript()


def test_a_canvas_grown_by_a_later_frame_is_stopped_inside_pillow(
    configured: Callable[[ImageLimits], None],
) -> None:
    data = grown_gif()  # 10 x 10, then 100 x 100 from frame 2
    limits = ImageLimits(max_pixels=6_000)
    assert probe(data, limits).frames == 2  # the header does not tell
    configured(limits)
    with pytest.raises(ImgflowError) as caught:
        decode(data, limits)
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE
    # Raised by Pillow during the seek, before it allocated the grown canvas.
    assert isinstance(caught.value.__cause__, Image.DecompressionBombWarning)


def test_a_grown_canvas_is_refused_without_any_warnings_filter() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert code_of(lambda: decode(grown_gif(), ImageLimits(max_pixels=6_000))) is (
            ErrorCode.IMAGE_TOO_LARGE
        )


def test_threads_decoding_at_once_all_keep_the_limit(
    configured: Callable[[ImageLimits], None],
) -> None:
    limits = ImageLimits(max_pixels=6_000)
    configured(limits)
    fine, bomb = to_bytes(quadrants(64, 48), "PNG"), to_bytes(quadrants(100, 80), "PNG")

    def one(index: int) -> str:
        data = bomb if index % 2 else fine
        try:
            decode(data, limits) if index % 3 else probe(data, limits)
        except ImgflowError as error:
            return error.code.value
        return "ok"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(one, range(400)))
    assert outcomes == ["IMAGE_TOO_LARGE" if i % 2 else "ok" for i in range(400)]


# --- frames counted before they are decoded ---------------------------------------------


def test_an_apng_claiming_few_frames_but_holding_many_is_refused() -> None:
    data = apng(frames=50, declared=2)
    assert Image.open(io.BytesIO(data)).n_frames == 2  # what Pillow believes
    few = ImageLimits(max_frames=10)
    assert code_of(lambda: probe(data, few)) is ErrorCode.TOO_MANY_FRAMES
    assert code_of(lambda: decode(data, few)) is ErrorCode.TOO_MANY_FRAMES
    assert code_of(lambda: probe(data, ImageLimits())) is ErrorCode.CORRUPT_IMAGE
    assert code_of(lambda: decode(data, ImageLimits())) is ErrorCode.CORRUPT_IMAGE


def test_an_honest_apng_is_counted_as_it_is() -> None:
    data = apng(frames=5, declared=5)
    assert probe(data, ImageLimits(max_frames=5)).frames == 5
    assert len(decode(data, ImageLimits(max_frames=5)).frames) == 5


# --- the pixel budget across frames -----------------------------------------------------


def test_frames_times_size_over_the_budget_is_refused_at_ingest_and_decode() -> None:
    data = animated_gif(frames=4, size=(40, 30))  # 4 x 1200 = 4800 px
    assert probe(data, ImageLimits(max_total_pixels=4_800)).frames == 4
    assert len(decode(data, ImageLimits(max_total_pixels=4_800)).frames) == 4
    tight = ImageLimits(max_total_pixels=4_799)
    assert code_of(lambda: probe(data, tight)) is ErrorCode.IMAGE_TOO_LARGE
    assert code_of(lambda: decode(data, tight)) is ErrorCode.IMAGE_TOO_LARGE


def test_a_thousand_frames_at_the_per_frame_limit_are_refused_without_decoding() -> None:
    data = many_frames_at_the_limit()
    started = time.monotonic()
    with pytest.raises(ImgflowError) as caught:
        probe(data, ImageLimits())
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert "across frames" in caught.value.message
    assert code_of(lambda: decode(data, ImageLimits())) is ErrorCode.IMAGE_TOO_LARGE
    # Decoding even one 50 Mpx frame takes longer than this; counting 1000 headers doesn't.
    assert time.monotonic() - started < 2


def test_tiff_pages_add_up() -> None:
    pages = [quadrants(100, 100) for _ in range(3)]
    data = to_bytes(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert probe(data, ImageLimits(max_total_pixels=30_000)).frames == 3
    tight = ImageLimits(max_total_pixels=29_999)
    assert code_of(lambda: probe(data, tight)) is ErrorCode.IMAGE_TOO_LARGE
    assert code_of(lambda: decode(data, tight)) is ErrorCode.IMAGE_TOO_LARGE


def test_frames_growing_past_the_budget_are_refused_as_they_are_loaded() -> None:
    data = grown_gif(frames=3)  # headers: 3 x 100 px; really 100 + 10,000 + 10,000
    limits = ImageLimits(max_pixels=20_000, max_total_pixels=15_000)
    assert probe(data, limits).frames == 3
    with pytest.raises(ImgflowError) as caught:
        decode(data, limits)
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert "the first 3 frames" in caught.value.message


# --- every step's size is checked before it is computed ---------------------------------

ANIMATION = ImageInfo(ImageFormat.GIF, 500, 500, 4, 1000)  # 4 x 250,000 px
BUDGET = ImageLimits(max_total_pixels=2_000_000)


def test_an_intermediate_step_over_the_budget_is_refused() -> None:
    # 4 x 800 x 800 = 2.56 Mpx after step 1, though the result would be small.
    with pytest.raises(ImgflowError) as caught:
        check_pipeline(ANIMATION, [ForceResize(800, 800), Resize(width=100)], BUDGET)
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert "force_resize (step 1)" in caught.value.message
    check_pipeline(ANIMATION, [ForceResize(700, 700), Resize(width=100)], BUDGET)


def test_the_budget_counts_only_the_frames_the_output_keeps() -> None:
    still = [ForceResize(800, 800), Convert(ImageFormat.JPEG)]  # JPEG keeps one frame
    check_pipeline(ANIMATION, still, BUDGET)
    animated = [ForceResize(800, 800), Convert(ImageFormat.WEBP)]
    assert code_of(lambda: check_pipeline(ANIMATION, animated, BUDGET)) is (
        ErrorCode.IMAGE_TOO_LARGE
    )


def test_the_worker_refuses_an_oversized_step_before_decoding_a_frame() -> None:
    # Frames that would fail to decode: the size refusal must come first.
    frames = [quadrants(100, 100).rotate(90 * i) for i in range(4)]
    whole = to_bytes(frames[0], "PNG", save_all=True, append_images=frames[1:])
    damaged = whole[: len(whole) * 3 // 4]
    pipeline: list[Operation] = [ForceResize(800, 800), Resize(width=50)]
    assert code_of(lambda: render(damaged, pipeline, ImageLimits())) is ErrorCode.CORRUPT_IMAGE
    limits = ImageLimits(max_total_pixels=4 * 800 * 800 - 1)
    assert code_of(lambda: render(damaged, pipeline, limits)) is ErrorCode.IMAGE_TOO_LARGE


def test_the_worker_plans_each_tiff_page_at_its_own_size() -> None:
    pages = [quadrants(8, 8), quadrants(200, 200)]
    data = to_bytes(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    pipeline: list[Operation] = [Rotate(45), Convert(ImageFormat.TIFF)]
    # From the first page, 2 x 12 x 12 px; the second page really turns 284 x 284.
    check_pipeline(probe(data, ImageLimits()), pipeline, ImageLimits(max_total_pixels=50_000))
    with pytest.raises(ImgflowError) as caught:
        render(data, pipeline, ImageLimits(max_total_pixels=50_000))
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert "rotate (step 1)" in caught.value.message


# --- the per-job time limit -------------------------------------------------------------


def test_a_deadline_passes_once_its_time_is_up() -> None:
    clock = Ticks()
    deadline = Deadline(3, clock)  # starts at 0, ends at 3
    deadline.check("one")  # 1
    deadline.check("two")  # 2
    with pytest.raises(ImgflowError) as caught:
        deadline.check("three")  # 3
    assert caught.value.code is ErrorCode.TIME_LIMIT_EXCEEDED
    assert "stopped before three" in caught.value.message


def test_decoding_stops_between_frames() -> None:
    with pytest.raises(ImgflowError) as caught:
        decode(animated_gif(frames=20), ImageLimits(), deadline=Deadline(5, Ticks()))
    assert caught.value.code is ErrorCode.TIME_LIMIT_EXCEEDED
    assert "decoding frame" in caught.value.message


def test_processing_stops_between_operations() -> None:
    data = to_bytes(quadrants(), "PNG")
    pipeline: list[Operation] = [Grayscale(), Blur(1.0), Rotate(90), Blur(2.0)] * 3
    # Each check reads the clock once: the time runs out a few operations in.
    with pytest.raises(ImgflowError) as caught:
        render(data, pipeline, ImageLimits(), Deadline(6, Ticks()))
    assert caught.value.code is ErrorCode.TIME_LIMIT_EXCEEDED
    stopped_before = caught.value.message.rpartition("stopped before ")[2].rstrip(")")
    assert stopped_before in {op.name for op in pipeline}


def test_a_job_within_its_time_renders() -> None:
    rendered = render(to_bytes(quadrants(), "PNG"), [Rotate(90)], ImageLimits())
    assert (rendered.info.width, rendered.info.height) == (48, 64)


async def test_the_worker_stops_waiting_at_the_limit_even_mid_step() -> None:
    # Decoding takes about 0.25 s; then one rotation to a 46 Mpx canvas, about 2 s of
    # work that no check can interrupt.
    data = to_bytes(Image.new("RGB", (5_000, 5_000), (200, 30, 30)), "PNG")
    pipeline: list[Operation] = [Rotate(30), Convert(ImageFormat.PNG)]
    limits = ImageLimits(job_time_limit_seconds=1.0)
    pool = ThreadPoolExecutor(1)
    started = time.monotonic()
    with pytest.raises(ImgflowError) as caught:
        await render_in(pool, data, pipeline, limits)
    given_up = time.monotonic() - started
    await asyncio.to_thread(pool.shutdown, wait=True)
    thread_done = time.monotonic() - started
    assert caught.value.code is ErrorCode.TIME_LIMIT_EXCEEDED
    assert "still running" in caught.value.message
    assert 1.0 <= given_up < 1.6
    assert thread_done > given_up + 0.3  # the rotation was still running when we left


async def test_time_queued_behind_other_jobs_does_not_count() -> None:
    pool = ThreadPoolExecutor(1)
    pool.submit(time.sleep, 0.5)  # the only thread is busy for longer than the limit
    rendered = await render_in(
        pool, to_bytes(quadrants(), "PNG"), [Rotate(90)], ImageLimits(job_time_limit_seconds=0.3)
    )
    pool.shutdown()
    assert rendered.info.width == 48
