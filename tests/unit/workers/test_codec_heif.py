"""HEIC/HEIF input (pi-heif): upright, behind the same checks as every format, written
as JPEG unless a `convert` says otherwise.

No HEVC encoder ships here (pi-heif is decode-only), so the pictures are the shared
corpus's real HEIC/HEIF files and versions of them edited at the box level."""

from __future__ import annotations

import struct

import pytest
from PIL import Image

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat, OutputFormat
from imgflow.imaging.info import ImageLimits
from imgflow.imaging.ingest import probe
from imgflow.imaging.operations import Convert, Resize
from tests.corpus import corpus_dir
from tests.heif import find, rotated
from tests.imaging import open_bytes, similarity
from workers.codec import decode
from workers.pipeline import render

LIMITS = ImageLimits()
CORPUS = corpus_dir()
pytestmark = pytest.mark.skipif(
    CORPUS is None, reason="shared corpus not found (../shared/corpus or IMGFLOW_CORPUS_DIR)"
)


def heif(name: str) -> bytes:
    assert CORPUS is not None
    return (CORPUS / "heif-avif" / name).read_bytes()


SMALL = "samplefilehub_640x426.heif"
IPHONE = "iphone_13_pro_max_12MP.HEIC"


def reference(data: bytes) -> Image.Image:
    """libheif's own picture, through Pillow with every plugin (not imgflow's code)."""
    return open_bytes(data).convert("RGB")


@pytest.mark.parametrize("quarter_turns", [1, 2, 3])
def test_rotation_in_the_file_is_applied_once(quarter_turns: int) -> None:
    source = heif(SMALL)
    turned = rotated(source, quarter_turns)
    expected = reference(source).rotate(90 * quarter_turns, expand=True)
    assert probe(turned, LIMITS).width == expected.width
    frame = decode(turned, LIMITS).frames[0]
    assert frame.size == expected.size
    assert similarity(frame, expected) > 0.99


def test_iphone_photo_is_upright_and_not_turned_again_by_its_exif() -> None:
    """The file holds a landscape HEVC picture, an irot and EXIF orientation 6: libheif
    turns it once; reading the EXIF too would turn it again."""
    data = heif(IPHONE)
    assert b"irot" in data
    info = probe(data, LIMITS)
    assert (info.format, info.width, info.height) == (ImageFormat.HEIF, 3024, 4032)
    result = render(data, [Resize(width=300)], LIMITS)
    image = open_bytes(result.data)
    assert image.size == (300, 400)
    expected = reference(data).resize((300, 400))
    assert similarity(image, expected) > 0.9  # a JPEG of a detailed photo
    assert similarity(image, expected.rotate(180)) < 0.3  # what turning again would look like


def test_written_as_jpeg_unless_converted() -> None:
    data = heif(SMALL)
    plain = render(data, [], LIMITS)
    assert plain.info.format is ImageFormat.JPEG
    assert open_bytes(plain.data).format == "JPEG"
    assert similarity(open_bytes(plain.data), reference(data)) > 0.95
    png = render(data, [Convert(OutputFormat.PNG)], LIMITS)
    assert open_bytes(png.data).format == "PNG"
    assert similarity(open_bytes(png.data), reference(data)) > 0.99


def test_heif_cannot_be_asked_for_as_output() -> None:
    with pytest.raises(ValueError, match="HEIF"):
        OutputFormat("HEIF")


def declaring(data: bytes, width: int, height: int) -> bytes:
    """`data` with its `ispe` (the image's declared size) changed."""
    meta = find(data, 0, len(data), b"meta")
    iprp = find(data, meta[1] + 12, meta[1] + meta[3], b"iprp")
    ipco = find(data, iprp[1] + 8, iprp[1] + iprp[3], b"ipco")
    ispe = find(data, ipco[1] + 8, ipco[1] + ipco[3], b"ispe")
    at = ispe[1] + 12
    return data[:at] + struct.pack(">II", width, height) + data[at + 8 :]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    ("side", "codes"),
    [
        (20_000, {ErrorCode.IMAGE_TOO_LARGE}),
        (60_000, {ErrorCode.IMAGE_TOO_LARGE}),
        # libheif itself refuses a size past its own limits: the header is unreadable
        (0xFFFFFFFF, {ErrorCode.IMAGE_TOO_LARGE, ErrorCode.CORRUPT_IMAGE}),
    ],
)
def test_declared_bomb_is_refused_from_the_header(side: int, codes: set[ErrorCode]) -> None:
    data = declaring(heif(SMALL), side, side)
    for check in (probe, decode):
        with pytest.raises(ImgflowError) as caught:
            check(data, LIMITS)
        assert caught.value.code in codes
    with pytest.raises(ImgflowError) as caught:
        probe(declaring(heif(SMALL), 10_000, 10_000), ImageLimits(max_pixels=1_000_000))
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE


@pytest.mark.parametrize("keep", [24, 200, 470, 5_000, 20_000])
def test_truncated_file_is_corrupt_not_an_internal_error(keep: int) -> None:
    data = heif(SMALL)[:keep]
    if keep < 470:  # inside the header boxes: refused at submission
        with pytest.raises(ImgflowError) as refused:
            probe(data, LIMITS)
        assert refused.value.code is ErrorCode.CORRUPT_IMAGE
    with pytest.raises(ImgflowError) as caught:
        decode(data, LIMITS)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE


def test_frame_limit_counts_a_heifs_images() -> None:
    data = heif(SMALL)
    assert probe(data, ImageLimits(max_frames=1)).frames == 1
    with pytest.raises(ImgflowError) as caught:
        probe(data, ImageLimits(max_frames=0))
    assert caught.value.code is ErrorCode.TOO_MANY_FRAMES
