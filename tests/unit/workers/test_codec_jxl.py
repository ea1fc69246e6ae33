"""JPEG XL in and out (pillow-jxl-plugin): sniffed, size-checked before the plugin (which
decodes as it opens) ever sees the file, upright, and judged by the picture."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from pillow_jxl import JpegXLImagePlugin

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat, OutputFormat
from imgflow.imaging.info import ImageInfo, ImageLimits
from imgflow.imaging.ingest import probe, sniff
from imgflow.imaging.jxl import CONTAINER, declared_size
from imgflow.imaging.operations import Convert, Resize
from tests.imaging import open_bytes, oriented_jpeg, quadrants, similarity, to_bytes
from workers.codec import decode
from workers.pipeline import render

LIMITS = ImageLimits()


def jxl(image: Image.Image, **params: object) -> bytes:
    return to_bytes(image, "JXL", **params)


@pytest.mark.parametrize("container", [False, True])
@pytest.mark.parametrize("size", [(64, 48), (48, 64), (1, 1), (513, 77), (1920, 1080), (8, 4096)])
def test_declared_size_is_read_from_the_header(size: tuple[int, int], container: bool) -> None:
    data = jxl(Image.new("RGB", size, (9, 99, 199)), effort=1, use_container=container)
    assert sniff(data) is ImageFormat.JXL
    assert declared_size(data) == size
    assert probe(data, LIMITS).width == size[0]


def size_header(width: int, height: int) -> bytes:
    """A bare codestream start declaring width x height (the large-side encoding)."""
    bits = [0]  # not small
    for side in (height, width):
        bits += [1, 1]  # selector 3: 30 bits
        bits += [(side - 1) >> i & 1 for i in range(30)]
        if side == height:
            bits += [0, 0, 0]  # ratio 0: the width follows
    packed = bytes(sum(bit << i for i, bit in enumerate(bits[n : n + 8])) for n in range(0, 72, 8))
    return b"\xff\x0a" + packed + bytes(64)


@pytest.mark.parametrize("side", [20_000, 65_535, 1 << 30])
def test_bomb_is_refused_before_the_plugin_opens_it(
    side: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = size_header(side, side)
    assert declared_size(data) == (side, side)
    opening_refused(monkeypatch)
    for check in (probe, decode):
        with pytest.raises(ImgflowError) as caught:
            check(data, LIMITS)
        assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE


def opening_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: object) -> None:
        raise AssertionError("the JXL plugin (which decodes as it opens) was called")

    monkeypatch.setattr(JpegXLImagePlugin.JXLImageFile, "_open", refuse)


def test_submission_reads_the_header_only(monkeypatch: pytest.MonkeyPatch) -> None:
    data = jxl(quadrants(640, 480), effort=1)
    opening_refused(monkeypatch)
    assert probe(data, LIMITS) == ImageInfo(ImageFormat.JXL, 640, 480, 1, len(data))


@pytest.mark.parametrize("percent", [5, 10, 50, 90, 98])
def test_truncated_file_is_corrupt_not_an_internal_error(percent: int) -> None:
    whole = jxl(quadrants(256, 192), effort=1)
    with pytest.raises(ImgflowError) as caught:
        decode(whole[: len(whole) * percent // 100], LIMITS)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE


@pytest.mark.parametrize(
    "cut", [b"\xff\x0a", CONTAINER, CONTAINER + b"\x00\x00\x00\x10jxlc\xff\x0a"]
)
def test_cut_inside_the_header_is_refused_at_submission(cut: bytes) -> None:
    for check in (probe, decode):
        with pytest.raises(ImgflowError) as caught:
            check(cut, LIMITS)
        assert caught.value.code is ErrorCode.CORRUPT_IMAGE


def test_header_that_lies_about_the_size_is_corrupt() -> None:
    honest = jxl(quadrants(64, 48), effort=1)
    with pytest.raises(ImgflowError) as caught:
        decode(size_header(64, 64)[:11] + honest[11:], LIMITS)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE


def test_converted_to_jxl_looks_like_the_source() -> None:
    source = quadrants(320, 240)
    result = render(to_bytes(source, "PNG"), [Convert(OutputFormat.JXL, 90)], LIMITS)
    assert result.info.format is ImageFormat.JXL
    image = open_bytes(result.data)
    assert image.format == "JXL"
    assert similarity(image, source) > 0.97


def test_jxl_source_is_written_as_jxl_and_resized() -> None:
    source = quadrants(320, 240)
    result = render(jxl(source, lossless=True), [Resize(width=160)], LIMITS)
    assert result.info.format is ImageFormat.JXL
    assert similarity(open_bytes(result.data), source.resize((160, 120))) > 0.95


def test_recompressed_jpeg_is_turned_by_its_exif(tmp_path: Path) -> None:
    """A JPEG transcoded losslessly into JPEG XL is loaded as that JPEG, EXIF and all."""
    path = tmp_path / "turned.jpg"
    path.write_bytes(oriented_jpeg(quadrants(64, 48), 6))
    with Image.open(path) as camera:
        data = jxl(camera, lossless_jpeg=True)
    assert probe(data, LIMITS).width == 64
    frame = decode(data, LIMITS).frames[0]
    assert frame.size == (64, 48)
    assert similarity(frame, quadrants(64, 48)) > 0.95


def test_quality_trades_bytes_for_fidelity() -> None:
    source = Image.open(io.BytesIO(to_bytes(quadrants(256, 192), "PNG")))
    data = to_bytes(source, "PNG")
    low = render(data, [Convert(OutputFormat.JXL, 10)], LIMITS)
    high = render(data, [Convert(OutputFormat.JXL, 95)], LIMITS)
    assert low.info.bytes < high.info.bytes
    assert similarity(open_bytes(high.data), source) > similarity(open_bytes(low.data), source)


class PanicException(BaseException):
    """What pyo3 raises when Rust code panics. No file here makes libjxl's binding
    panic, so the plugin is made to raise it: the one fake in this module."""


def test_a_panic_in_the_decoder_is_a_corrupt_image(monkeypatch: pytest.MonkeyPatch) -> None:
    def panic(self: object) -> None:
        raise PanicException("index out of bounds")

    data = jxl(quadrants(64, 48), effort=1)
    monkeypatch.setattr(JpegXLImagePlugin.JXLImageFile, "_open", panic)
    with pytest.raises(ImgflowError) as caught:
        decode(data, LIMITS)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE
    assert "gave up" in caught.value.message
