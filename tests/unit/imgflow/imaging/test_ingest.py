"""imgflow.imaging.ingest: sniffing by magic bytes, header-only probing, size prediction."""

from __future__ import annotations

import csv
import io
import random
import re
import struct
import warnings
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import EpsImagePlugin, Image, ImageFile, features

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.info import ImageInfo, ImageLimits
from imgflow.imaging.ingest import PILLOW_PLUGINS, check_pipeline, planned_size, probe, sniff
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
    Sharpen,
)
from tests.corpus import corpus_dir
from tests.imaging import animated_gif, quadrants
from tests.imaging import to_bytes as encode
from workers import transforms as ops

NO_AVIF = pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
ACCEPTED = [
    pytest.param(ImageFormat.JPEG, id="JPEG"),
    pytest.param(ImageFormat.PNG, id="PNG"),
    pytest.param(ImageFormat.GIF, id="GIF"),
    pytest.param(ImageFormat.WEBP, id="WEBP"),
    pytest.param(ImageFormat.TIFF, id="TIFF"),
    pytest.param(ImageFormat.BMP, id="BMP"),
    pytest.param(ImageFormat.AVIF, id="AVIF", marks=NO_AVIF),
    pytest.param(ImageFormat.JXL, id="JXL"),
]
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n0 0 moveto 10 10 lineto stroke\n"
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
HTML = b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>"


def image_bytes(fmt: ImageFormat, size: tuple[int, int] = (64, 48)) -> bytes:
    return encode(quadrants(*size), fmt.value)


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    """An ISO-BMFF file start: the ftyp box, then some padding where the next box would be."""
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + bytes(32)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares its size and carries no pixels: what a bomb's header looks like."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", b"") + png_chunk(b"IEND", b"")


def jpeg_with_orientation(orientation: int, size: tuple[int, int] = (64, 48)) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(quadrants(*size), "JPEG", exif=exif.tobytes())


def encode_animation(fmt: str) -> bytes:
    frames = [quadrants().rotate(90 * i) for i in range(5)]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)


def code_of(data: bytes, limits: ImageLimits | None = None) -> ErrorCode:
    with pytest.raises(ImgflowError) as caught:
        probe(data, limits or ImageLimits())
    assert "BytesIO" not in caught.value.message  # messages are for people
    return caught.value.code


# --- sniff ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ACCEPTED)
def test_sniff_names_each_accepted_format(fmt: ImageFormat) -> None:
    assert sniff(image_bytes(fmt)) is fmt


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"GIF87a\x01\x00\x01\x00", ImageFormat.GIF, id="gif87a"),
        pytest.param(b"MM\x00*\x00\x00\x00\x08", ImageFormat.TIFF, id="tiff-big-endian"),
        pytest.param(b"II+\x00\x08\x00\x00\x00", ImageFormat.TIFF, id="bigtiff-little-endian"),
        pytest.param(b"MM\x00+\x00\x08\x00\x00", ImageFormat.TIFF, id="bigtiff-big-endian"),
        pytest.param(ftyp(b"avif", b"avif", b"mif1"), ImageFormat.AVIF, id="avif-major"),
        pytest.param(ftyp(b"avis", b"avis", b"msf1"), ImageFormat.AVIF, id="avis-major"),
        pytest.param(ftyp(b"mif1", b"mif1", b"avif"), ImageFormat.AVIF, id="avif-compatible"),
        pytest.param(ftyp(b"heic", b"mif1", b"heic", b"miaf"), ImageFormat.HEIF, id="heic"),
        pytest.param(ftyp(b"heix", b"mif1", b"heix"), ImageFormat.HEIF, id="heix"),
        pytest.param(ftyp(b"mif1", b"mif1", b"miaf"), ImageFormat.HEIF, id="mif1-only"),
        pytest.param(ftyp(b"msf1", b"msf1", b"hevc"), ImageFormat.HEIF, id="msf1-hevc"),
    ],
)
def test_sniff_knows_format_variants(data: bytes, expected: ImageFormat) -> None:
    assert sniff(data) is expected


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(ftyp(b"isom", b"isom", b"mp41"), id="mp4-video"),
        pytest.param(ftyp(b"isom", b"isom", b"heic"), id="heic-not-major"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", id="pdf"),
        pytest.param(EPS, id="eps"),
        pytest.param(b"\xc5\xd0\xd3\xc6" + bytes(28), id="eps-dos-binary"),
        pytest.param(SVG, id="svg"),
        pytest.param(HTML, id="html"),
        pytest.param(encode(quadrants(16, 16), "ICO"), id="ico"),
        pytest.param(b"8BPS\x00\x01" + bytes(20), id="psd"),
        pytest.param(b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(20), id="jpeg2000"),
        pytest.param(b"RIFF\x24\x00\x00\x00WAVEfmt ", id="riff-wave"),
        pytest.param(b"", id="empty"),
    ],
)
def test_sniff_refuses_everything_else(data: bytes) -> None:
    assert sniff(data) is None


def test_every_sniffed_format_has_a_pillow_opener() -> None:
    """Image.open raises KeyError for a name in `formats` with no opener (e.g. "MPO")."""
    Image.init()
    for fmt in ImageFormat:
        assert all(plugin in Image.OPEN for plugin in PILLOW_PLUGINS[fmt]), fmt


# --- probe -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ACCEPTED)
def test_probe_reports_format_size_frames_and_bytes(fmt: ImageFormat) -> None:
    data = image_bytes(fmt)
    assert probe(data, ImageLimits()) == ImageInfo(fmt, 64, 48, 1, len(data))


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every plugin's load() raises: probe must get by on headers alone."""

    def refuse(self: ImageFile.ImageFile, *args: object) -> None:
        raise AssertionError(f"{type(self).__name__}.load() called")

    Image.init()
    for cls in [ImageFile.ImageFile, *all_subclasses(ImageFile.ImageFile)]:
        if "load" in vars(cls):
            monkeypatch.setattr(cls, "load", refuse)


def all_subclasses(cls: type[object]) -> Iterator[type[object]]:
    subclasses: list[type[object]] = cls.__subclasses__()
    for sub in subclasses:
        yield sub
        yield from all_subclasses(sub)


@pytest.mark.usefixtures("no_decoding")
@pytest.mark.parametrize("fmt", ACCEPTED)
def test_probe_never_decodes_pixels(fmt: ImageFormat) -> None:
    assert probe(image_bytes(fmt), ImageLimits()).width == 64


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(animated_gif(frames=5), id="GIF"),
        pytest.param(encode_animation("WEBP"), id="WEBP"),
        pytest.param(encode_animation("PNG"), id="APNG"),
    ],
)
def test_probe_counts_frames(data: bytes) -> None:
    assert probe(data, ImageLimits()).frames == 5


@pytest.mark.parametrize(
    ("orientation", "upright"),
    [
        (1, (64, 48)),
        (2, (64, 48)),
        (3, (64, 48)),
        (4, (64, 48)),
        (5, (48, 64)),
        (6, (48, 64)),
        (7, (48, 64)),
        (8, (48, 64)),
        (0, (64, 48)),  # invalid: means upright
        (9, (64, 48)),  # invalid: means upright
    ],
)
def test_probe_reports_upright_size(orientation: int, upright: tuple[int, int]) -> None:
    info = probe(jpeg_with_orientation(orientation), ImageLimits())
    assert (info.width, info.height) == upright


def png_with_late_exif(orientation: int) -> bytes:
    """A PNG whose eXIf chunk comes after IDAT, which Pillow supports."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    plain = encode(quadrants(), "PNG")
    iend = plain.rindex(b"IEND") - 4
    return plain[:iend] + png_chunk(b"eXIf", exif.tobytes()[6:]) + plain[iend:]


@pytest.mark.usefixtures("no_decoding")
def test_probe_finds_png_exif_after_the_pixels_without_decoding() -> None:
    """Pillow's own PNG getexif() decodes the whole image to look there."""
    data = png_with_late_exif(6)
    assert data.index(b"eXIf") > data.index(b"IDAT")
    info = probe(data, ImageLimits())
    assert (info.width, info.height) == (48, 64)


def test_late_png_exif_is_what_the_worker_will_see() -> None:
    data = png_with_late_exif(8)
    with Image.open(io.BytesIO(data)) as image:
        assert image.getexif()[0x0112] == 8
    assert probe(data, ImageLimits()).width == 48


def test_probe_limits_pixels() -> None:
    data = image_bytes(ImageFormat.PNG)
    assert probe(data, ImageLimits(max_pixels=64 * 48)).width == 64
    assert code_of(data, ImageLimits(max_pixels=64 * 48 - 1)) is ErrorCode.IMAGE_TOO_LARGE


def test_probe_limits_frames() -> None:
    data = animated_gif(frames=4)
    assert probe(data, ImageLimits(max_frames=4)).frames == 4
    assert code_of(data, ImageLimits(max_frames=3)) is ErrorCode.TOO_MANY_FRAMES


def test_probe_limits_every_tiff_page() -> None:
    small, large = quadrants(8, 8), quadrants(200, 200)
    data = encode(small, "TIFF", save_all=True, append_images=[large])
    assert probe(data, ImageLimits()).frames == 2
    assert code_of(data, ImageLimits(max_pixels=1000)) is ErrorCode.IMAGE_TOO_LARGE


@pytest.mark.parametrize(
    "size",
    [
        pytest.param((10_000, 6_000), id="over-the-service-limit"),
        pytest.param((100_000, 100_000), id="over-pillows-bomb-error"),
    ],
)
def test_probe_refuses_declared_bombs(size: tuple[int, int]) -> None:
    assert code_of(png_header_only(*size)) is ErrorCode.IMAGE_TOO_LARGE


def test_pillow_bomb_warning_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = image_bytes(ImageFormat.PNG, (40, 30))  # 1200 px: Pillow only warns
    huge = ImageLimits(max_pixels=10**9)
    with pytest.warns(Image.DecompressionBombWarning):
        assert code_of(data, huge) is ErrorCode.IMAGE_TOO_LARGE
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        assert code_of(data, huge) is ErrorCode.IMAGE_TOO_LARGE


def test_probe_refuses_empty_and_unknown_files() -> None:
    assert code_of(b"") is ErrorCode.EMPTY_FILE
    noise = random.Random(20240601).randbytes(4096)
    assert sniff(noise) is None
    assert code_of(noise) is ErrorCode.UNSUPPORTED_FORMAT


def test_probe_calls_a_damaged_header_corrupt() -> None:
    data = bytearray(image_bytes(ImageFormat.PNG))
    data[16:24] = b"\xff" * 8  # IHDR width and height; the chunk CRC no longer matches
    assert code_of(bytes(data)) is ErrorCode.CORRUPT_IMAGE


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"%PDF-1.4\n", "PDF"),
        (EPS, "EPS"),
        (SVG, "SVG"),
        (HTML, "HTML"),
        (encode(quadrants(16, 16), "ICO"), "ICO"),
        (b"8BPS\x00\x01" + bytes(20), "PSD"),
        (b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(20), "JPEG 2000"),
        (ftyp(b"isom", b"isom", b"heic"), "a HEIF variant imgflow does not read"),
    ],
)
def test_unsupported_message_says_what_it_looks_like(data: bytes, named: str) -> None:
    with pytest.raises(ImgflowError) as caught:
        probe(data, ImageLimits())
    assert caught.value.code is ErrorCode.UNSUPPORTED_FORMAT
    assert named in caught.value.message
    assert (
        "only JPEG, PNG, GIF, WebP, TIFF, BMP, AVIF, JPEG XL and HEIC/HEIF are accepted"
        in caught.value.message
    )


@pytest.fixture
def ghostscript_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records (and blocks) every way Pillow could reach Ghostscript."""
    calls: list[str] = []

    def record(name: str) -> object:
        def blocked(*args: object, **kwargs: object) -> None:
            calls.append(name)
            raise AssertionError(f"{name} must never run")

        return blocked

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", record("Ghostscript"))
    monkeypatch.setattr(EpsImagePlugin, "has_ghostscript", record("has_ghostscript"))
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", False)
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", record("EpsImageFile._open"))
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "load", record("EpsImageFile.load"))
    return calls


def eps_samples() -> Sequence[object]:
    inline = [
        pytest.param(EPS, id="inline-eps"),
        pytest.param(b"\xc5\xd0\xd3\xc6\x20\x00\x00\x00" + bytes(24) + EPS, id="inline-dos-eps"),
    ]
    root = corpus_dir()
    found = sorted(root.glob("hostile/*.eps")) if root else []
    return inline + [pytest.param(path.read_bytes(), id=path.name) for path in found]


@pytest.mark.parametrize("data", eps_samples())
def test_eps_never_reaches_ghostscript(data: bytes, ghostscript_calls: list[str]) -> None:
    assert code_of(data) is ErrorCode.UNSUPPORTED_FORMAT
    assert ghostscript_calls == []


# --- planned_size and check_pipeline ---------------------------------------------------


@pytest.mark.parametrize("degrees", [90, -90, 270, -270])
def test_quarter_turns_swap_sides(degrees: int) -> None:
    assert planned_size(640, 480, [Rotate(degrees)]) == (480, 640)


@pytest.mark.parametrize("degrees", [0, 180, -180, 360, -360])
def test_half_and_full_turns_keep_size(degrees: int) -> None:
    assert planned_size(640, 480, [Rotate(degrees)]) == (640, 480)


@pytest.mark.parametrize("degrees", [45, 30, -17, 1, 135, 200, 359, -300])
@pytest.mark.parametrize("size", [(64, 48), (101, 37), (1, 1), (3, 500)])
def test_other_angles_expand_like_pillow(degrees: int, size: tuple[int, int]) -> None:
    expected = Image.new("L", size).rotate(degrees, expand=True).size
    assert planned_size(*size, [Rotate(degrees)]) == expected


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (Resize(width=320), (320, 240)),
        (Resize(height=100), (133, 100)),
        (Resize(width=320, height=320), (320, 240)),
        (Resize(width=1000, height=150), (200, 150)),
        (Resize(width=1280), (1280, 960)),  # fits the box by scaling up too
        (ForceResize(width=10, height=700), (10, 700)),
    ],
)
def test_resizes(op: Operation, expected: tuple[int, int]) -> None:
    assert planned_size(640, 480, [op]) == expected


@pytest.mark.parametrize("box", [(320, 320), (100, 50), (7, 1000), (639, 479), (2000, 9)])
def test_planned_resize_is_what_the_worker_produces(box: tuple[int, int]) -> None:
    # The ingest check and the worker once rounded differently (320 x 241 planned,
    # 320 x 240 produced); both now use imgflow.imaging.sizes.output_size.
    produced = ops.apply(Image.new("L", (640, 481)), Resize(*box)).size
    assert planned_size(640, 481, [Resize(*box)]) == produced


def test_resize_never_makes_a_zero_side() -> None:
    assert planned_size(10_000, 1, [Resize(width=10)]) == (10, 1)
    assert planned_size(1, 10_000, [Resize(height=10)]) == (1, 10)


@pytest.mark.parametrize(
    "op",
    [
        Flip(FlipDirection.HORIZONTAL),
        Grayscale(),
        Blur(2.0),
        Sharpen(),
        Convert(ImageFormat.WEBP, quality=80),
    ],
)
def test_pixel_operations_keep_size(op: Operation) -> None:
    assert planned_size(640, 480, [op]) == (640, 480)


def test_crop_inside_takes_its_size() -> None:
    assert planned_size(640, 480, [Crop(40, 30, 600, 450)]) == (600, 450)
    # After a quarter turn the image is 480 x 640, so a tall crop fits.
    assert planned_size(640, 480, [Rotate(90), Crop(0, 0, 480, 640)]) == (480, 640)


def test_crop_outside_is_an_invalid_operation() -> None:
    source = ImageInfo(ImageFormat.PNG, 640, 480, 1, 1000)
    with pytest.raises(ImgflowError) as caught:
        check_pipeline(source, [Resize(width=320), Crop(100, 0, 300, 200)], ImageLimits())
    assert caught.value.code is ErrorCode.INVALID_OPERATION
    assert "step 2: crop 300x200 at (100, 0)" in caught.value.message
    assert "320x240" in caught.value.message


def test_check_pipeline_accepts_a_pipeline_within_limits() -> None:
    source = ImageInfo(ImageFormat.JPEG, 5120, 2880, 1, 1000)
    check_pipeline(source, [Rotate(45), Resize(width=800), Convert(ImageFormat.PNG)], ImageLimits())


@pytest.mark.parametrize(
    "ops",
    [
        pytest.param([ForceResize(10_000, 6_000)], id="last-step"),
        pytest.param([ForceResize(10_000, 6_000), Resize(width=100)], id="middle-step"),
        pytest.param([Rotate(45)], id="rotation-grows-the-canvas"),
    ],
)
def test_check_pipeline_refuses_oversized_steps(ops: list[Operation]) -> None:
    source = ImageInfo(ImageFormat.PNG, 6_000, 6_000, 1, 1000)
    with pytest.raises(ImgflowError) as caught:
        check_pipeline(source, ops, ImageLimits(max_pixels=40_000_000))
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert "the output would be" in caught.value.message


def test_check_pipeline_refuses_sides_no_codec_holds() -> None:
    source = ImageInfo(ImageFormat.PNG, 65_535, 1, 1, 1000)
    with pytest.raises(ImgflowError) as caught:
        check_pipeline(source, [Resize(height=2)], ImageLimits())
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert "131070 x 2" in caught.value.message


# --- the shared corpus -----------------------------------------------------------------

CAUGHT_AT_DECODE = {
    # Headers are intact; the damage shows only when pixels are decoded, which the
    # worker does (the job then fails with CORRUPT_IMAGE). probe stays header-only.
    "hostile/gif_invalid_multiframe.gif",
    "hostile/truncated_flickr_head-c-10000.jpg",
    "hostile/truncated_pillow_image.png",
    "hostile/truncated_progressive_jpeg.jpg",
    "hostile/truncated_saw_head-c-10000.png",
}
CLEAR_CODES = {
    ErrorCode.EMPTY_FILE,
    ErrorCode.UNSUPPORTED_FORMAT,
    ErrorCode.CORRUPT_IMAGE,
    ErrorCode.IMAGE_TOO_LARGE,
    ErrorCode.TOO_MANY_FRAMES,
}


@dataclass(frozen=True)
class Row:
    """One MANIFEST.tsv line, as much of it as probe can be held to."""

    path: Path
    name: str
    pillow_format: str
    size: str
    frames: str
    orientation: str
    expected: str

    @property
    def should_process(self) -> bool:
        return self.expected.startswith("process")

    def upright(self) -> tuple[int, int]:
        width, height = (int(side) for side in self.size.split("x"))
        swap = self.orientation in {"5", "6", "7", "8"}
        return (height, width) if swap else (width, height)


def corpus_rows() -> Sequence[object]:
    root = corpus_dir()
    if root is None:
        reason = "corpus absent: no ../shared/corpus/MANIFEST.tsv (set IMGFLOW_CORPUS_DIR)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-corpus")]
    with (root / "MANIFEST.tsv").open(newline="") as handle:
        lines = list(csv.DictReader(handle, delimiter="\t"))
    return [pytest.param(row_from(root, line), id=line["file"]) for line in lines]


HEIF_NOTE = re.compile(
    r"with pillow-heif [\d.]+: (\w+) \w+ (\d+x\d+) frames=(\d+) orientation=(\d)"
)
"""Plain Pillow cannot open HEIC, so those rows say what pillow-heif reports in the notes."""


def row_from(root: Path, line: dict[str, str]) -> Row:
    if heif := HEIF_NOTE.search(line["pillow_notes"]):
        line = {
            **line,
            "pillow_format": heif[1],
            "pillow_size": heif[2],
            "pillow_n_frames": heif[3],
            "exif_orientation": heif[4],
        }
    return Row(
        path=root / line["file"],
        name=line["file"],
        pillow_format=line["pillow_format"],
        size=line["pillow_size"],
        frames=line["pillow_n_frames"],
        orientation=line["exif_orientation"],
        expected=line["expected_service_behaviour"],
    )


def expected_code(row: Row) -> ErrorCode | None:
    """The one right code where the file makes it plain; None where any clear code does."""
    if row.name == "hostile/empty.jpg":
        return ErrorCode.EMPTY_FILE
    if row.name.startswith("hostile/bomb_"):
        return ErrorCode.IMAGE_TOO_LARGE
    if row.name.startswith("other-formats/"):
        return ErrorCode.UNSUPPORTED_FORMAT
    if row.path.suffix in {".eps", ".pdf", ".svg", ".svgz"}:
        return ErrorCode.UNSUPPORTED_FORMAT
    return None


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
@pytest.mark.parametrize("row", corpus_rows())
def test_corpus_file(row: Row) -> None:
    data = row.path.read_bytes()
    if row.should_process:
        info = probe(data, ImageLimits())
        assert info.format.value == row.pillow_format.replace("MPO", "JPEG")
        assert (info.width, info.height) == row.upright()
        assert info.frames == (1 if row.pillow_format == "MPO" else int(row.frames))
    elif row.name in CAUGHT_AT_DECODE:
        assert probe(data, ImageLimits()).bytes == len(data)
    else:
        code = code_of(data)
        assert code in CLEAR_CODES
        assert expected_code(row) in {None, code}
