"""Decoding uploads into upright working frames, and encoding frames from pixels only."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import EpsImagePlugin, Image, PngImagePlugin

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import WRITABLE_FORMATS, ImageFormat
from imgflow.imaging.info import ImageLimits
from tests.imaging import (
    BLUE,
    RED,
    WHITE,
    colour_at,
    durations_of,
    near,
    oriented_jpeg,
    pixels,
    png_with_size,
    quadrants,
    similarity,
    srgb_profile,
    swapped_profile,
    to_bytes,
    with_alpha,
)
from workers.codec import decode, encode

LIMITS = ImageLimits()


def _decode_one(data: bytes) -> Image.Image:
    decoded = decode(data, LIMITS)
    assert len(decoded.frames) == 1
    return decoded.frames[0]


def _animation(count: int = 4, size: tuple[int, int] = (40, 30)) -> list[Image.Image]:
    colours = [RED, (30, 200, 40), BLUE, (240, 220, 20), (250, 250, 250)]
    return [Image.new("RGB", size, colours[i % len(colours)]) for i in range(count)]


# --- decode: modes ----------------------------------------------------------------------


def test_palette_with_transparency_becomes_rgba() -> None:
    image = quadrants().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    transparent = image.getpixel((0, 0))
    frame = _decode_one(to_bytes(image, "PNG", transparency=transparent))
    assert frame.mode == "RGBA"
    assert colour_at(frame, 0, 0)[3] == 0
    assert near(colour_at(frame, 63, 47), (240, 220, 20, 255))


def test_palette_without_transparency_becomes_rgb() -> None:
    image = quadrants().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    frame = _decode_one(to_bytes(image, "PNG"))
    assert frame.mode == "RGB"
    assert similarity(frame, quadrants()) > 0.99


def test_one_bit_becomes_gray() -> None:
    image = Image.new("1", (16, 16), 0)
    image.paste(1, (8, 0, 16, 16))
    frame = _decode_one(to_bytes(image, "PNG"))
    assert frame.mode == "L"
    assert frame.getpixel((0, 0)) == 0
    assert frame.getpixel((15, 0)) == 255


def test_gray_and_gray_alpha_stay_as_they_are() -> None:
    assert _decode_one(to_bytes(quadrants().convert("L"), "PNG")).mode == "L"
    assert _decode_one(to_bytes(quadrants().convert("LA"), "PNG")).mode == "LA"


def test_sixteen_bit_gray_is_scaled_not_clipped() -> None:
    values = np.array([[0, 32768, 65535]], dtype=np.uint16)
    frame = _decode_one(to_bytes(Image.fromarray(values), "PNG"))
    assert frame.mode == "L"
    assert list(pixels(frame)[0]) == [0, 128, 255]


def test_sixteen_bit_gray_transparency_key_becomes_alpha() -> None:
    values = np.array([[1000, 32768, 65535]], dtype=np.uint16)
    frame = _decode_one(to_bytes(Image.fromarray(values), "PNG", transparency=1000))
    assert frame.mode == "LA"
    assert [tuple(p) for p in pixels(frame)[0]] == [(4, 0), (128, 255), (255, 255)]


def test_cmyk_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # full magenta + yellow: red
    frame = _decode_one(to_bytes(cmyk, "JPEG", quality=95))
    assert frame.mode == "RGB"
    red, green, blue = colour_at(frame, 8, 8)[:3]
    assert red > 200
    assert green < 40
    assert blue < 40


def test_cmyk_with_an_unusable_profile_still_decodes() -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))
    decoded = decode(to_bytes(cmyk, "JPEG", icc_profile=srgb_profile()), LIMITS)
    assert decoded.frames[0].mode == "RGB"
    assert decoded.icc is None  # the pixels are sRGB now


# --- decode: orientation ----------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(orientation: int) -> None:
    upright = quadrants()
    decoded = decode(oriented_jpeg(upright, orientation), LIMITS)
    frame = decoded.frames[0]
    assert frame.size == upright.size == decoded.size
    assert similarity(frame, upright) > 0.95
    assert near(colour_at(frame, 8, 8)[:3], RED, 16)
    assert near(colour_at(frame, 8, 40)[:3], BLUE, 16)


@pytest.mark.parametrize("value", [0, 9, 65535])
def test_invalid_orientation_means_no_rotation(value: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = value
    frame = _decode_one(to_bytes(quadrants(), "JPEG", quality=95, subsampling=0, exif=exif))
    assert similarity(frame, quadrants()) > 0.95


def test_xmp_orientation_is_honoured() -> None:
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="3"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    stored = quadrants().rotate(180)
    frame = _decode_one(to_bytes(stored, "PNG", pnginfo=info))
    np.testing.assert_array_equal(pixels(frame), pixels(quadrants()))


def test_first_frame_orientation_applies_to_every_frame() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = [quadrants().rotate(90, expand=True), Image.new("RGB", (48, 64), BLUE)]
    data = to_bytes(
        stored[0], "WEBP", save_all=True, append_images=stored[1:], lossless=True, exif=exif
    )
    decoded = decode(data, LIMITS)
    assert decoded.animated
    assert [frame.size for frame in decoded.frames] == [(64, 48), (64, 48)]
    assert similarity(decoded.frames[0], quadrants()) > 0.99


def test_tiff_pages_come_out_upright_once() -> None:
    # Pillow's TIFF plugin orients pages itself; the codec must not do it again.
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = quadrants().rotate(90, expand=True)
    decoded = decode(to_bytes(stored, "TIFF", exif=exif), LIMITS)
    assert decoded.size == decoded.frames[0].size == (64, 48)
    assert similarity(decoded.frames[0], quadrants()) > 0.99


# --- decode: sequences ------------------------------------------------------------------


def test_animated_gif_frames_durations_and_loop() -> None:
    frames = _animation()
    data = to_bytes(
        frames[0], "GIF", save_all=True, append_images=frames[1:], duration=[50, 60, 70, 80], loop=2
    )
    decoded = decode(data, LIMITS)
    assert decoded.animated
    assert decoded.format is ImageFormat.GIF
    assert decoded.durations == (50, 60, 70, 80)
    assert decoded.loop == 3  # NETSCAPE 2 = two repeats = three plays
    assert [colour_at(f, 5, 5)[:3] for f in decoded.frames][:2] == [RED, (30, 200, 40)]


def test_gif_without_loop_extension_plays_once() -> None:
    frames = _animation(2)
    data = to_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert decode(data, LIMITS).loop == 1


def test_tiff_pages_are_frames_but_not_an_animation() -> None:
    pages = _animation(3)
    data = to_bytes(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    decoded = decode(data, LIMITS)
    assert len(decoded.frames) == 3
    assert not decoded.animated


def test_mpo_is_read_as_its_first_jpeg() -> None:
    frames = [quadrants(), Image.new("RGB", (64, 48), BLUE)]
    data = to_bytes(frames[0], "MPO", save_all=True, append_images=frames[1:], subsampling=0)
    assert Image.open(io.BytesIO(data)).format == "MPO"
    decoded = decode(data, LIMITS)
    assert decoded.format is ImageFormat.JPEG
    assert len(decoded.frames) == 1
    assert similarity(decoded.frames[0], quadrants()) > 0.95


# --- decode: refusals -------------------------------------------------------------------


def _code(data: bytes, limits: ImageLimits = LIMITS) -> ErrorCode:
    with pytest.raises(ImgflowError) as caught:
        decode(data, limits)
    return caught.value.code


def test_empty_data_is_refused() -> None:
    assert _code(b"") is ErrorCode.EMPTY_FILE


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "TIFF"])
def test_truncated_images_are_corrupt(fmt: str) -> None:
    noisy = Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8))
    data = to_bytes(noisy, fmt)
    assert _code(data[: len(data) * 2 // 3]) is ErrorCode.CORRUPT_IMAGE


def test_damaged_data_after_a_valid_signature_is_corrupt() -> None:
    assert _code(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4) is ErrorCode.CORRUPT_IMAGE
    assert _code(b"\xff\xd8\xff\xe0" + b"\x00" * 100) is ErrorCode.CORRUPT_IMAGE


EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\n"
    b"newpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n"
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'


@pytest.mark.parametrize("data", [EPS, PDF, SVG, b"<html>404</html>", b"hello"], ids=str)
def test_other_formats_are_unsupported_and_ghostscript_never_runs(
    data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: calls.append(a))
    assert _code(data) is ErrorCode.UNSUPPORTED_FORMAT
    assert calls == []


def test_eps_fixture_is_one_pillow_would_open() -> None:
    assert Image.open(io.BytesIO(EPS)).format == "EPS"


def test_formats_pillow_reads_but_we_do_not_are_unsupported() -> None:
    for fmt in ("ICO", "TGA", "PPM", "JPEG2000"):
        assert _code(to_bytes(quadrants(), fmt)) is ErrorCode.UNSUPPORTED_FORMAT, fmt


def test_more_pixels_than_the_limit_is_too_large() -> None:
    data = to_bytes(quadrants(), "PNG")
    assert _code(data, ImageLimits(max_pixels=64 * 48 - 1)) is ErrorCode.IMAGE_TOO_LARGE
    decode(data, ImageLimits(max_pixels=64 * 48))


@pytest.mark.parametrize("side", [10_000, 60_000])  # Pillow warns at 89 Mpx, raises at 179
def test_decompression_bombs_are_too_large_even_under_a_generous_limit(side: int) -> None:
    assert (
        _code(png_with_size(side, side), ImageLimits(max_pixels=10**10))
        is ErrorCode.IMAGE_TOO_LARGE
    )


def test_too_many_frames() -> None:
    frames = _animation(4)
    data = to_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert _code(data, ImageLimits(max_frames=3)) is ErrorCode.TOO_MANY_FRAMES


# --- encode -----------------------------------------------------------------------------


def _encode(
    image: Image.Image, fmt: ImageFormat, quality: int | None = None, icc: bytes | None = None
) -> Image.Image:
    data = encode([image], [0], 0, fmt, quality, icc)
    result = Image.open(io.BytesIO(data))
    result.load()
    return result


LOSSLESS = [ImageFormat.PNG, ImageFormat.TIFF, ImageFormat.BMP]
THRESHOLDS = {
    ImageFormat.JPEG: 0.9,
    ImageFormat.WEBP: 0.9,
    ImageFormat.AVIF: 0.85,
    ImageFormat.GIF: 0.95,
    ImageFormat.JXL: 0.9,
}


@pytest.mark.parametrize("fmt", WRITABLE_FORMATS)
def test_every_format_round_trips(fmt: ImageFormat) -> None:
    result = _encode(quadrants(), fmt)
    assert result.format == fmt.value
    assert result.size == (64, 48)
    assert similarity(result, quadrants()) > THRESHOLDS.get(fmt, 0.999)


@pytest.mark.parametrize("fmt", [ImageFormat.JPEG, ImageFormat.BMP])
def test_alpha_is_flattened_onto_white_where_the_format_has_none(fmt: ImageFormat) -> None:
    alpha = np.full((48, 64), 255)
    alpha[:24, :32] = 0  # the red quadrant disappears
    alpha[24:, :32] = 128  # the blue one is half seen
    result = _encode(with_alpha(quadrants(), alpha), fmt)
    assert result.mode == "RGB"
    assert near(colour_at(result, 8, 8)[:3], WHITE, 4)
    assert near(colour_at(result, 8, 40)[:3], (142, 147, 237), 6)


def test_gray_alpha_into_jpeg_is_flattened_to_gray() -> None:
    image = Image.new("LA", (16, 16), (0, 0))
    assert _encode(image, ImageFormat.JPEG).getpixel((8, 8)) in range(250, 256)


def test_gif_keeps_transparency() -> None:
    alpha = np.full((48, 64), 255)
    alpha[:24, :32] = 0
    result = _encode(with_alpha(quadrants(), alpha), ImageFormat.GIF).convert("RGBA")
    assert colour_at(result, 8, 8)[3] == 0
    assert near(colour_at(result, 40, 40), (240, 220, 20, 255), 16)


@pytest.mark.parametrize("fmt", [ImageFormat.JPEG, ImageFormat.WEBP, ImageFormat.AVIF])
def test_quality_changes_the_bytes(fmt: ImageFormat) -> None:
    noisy = Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64, 3), np.uint8))
    low = encode([noisy], [0], 0, fmt, quality=20)
    high = encode([noisy], [0], 0, fmt, quality=95)
    assert len(low) < len(high)
    assert encode([noisy], [0], 0, fmt) != high


def test_png_compress_level_trades_bytes() -> None:
    noisy = Image.fromarray(np.random.default_rng(3).integers(0, 64, (64, 64, 3), np.uint8))
    fast = encode([noisy], [0], 0, ImageFormat.PNG, png_compress_level=0)
    small = encode([noisy], [0], 0, ImageFormat.PNG, png_compress_level=9)
    assert len(small) < len(fast)
    np.testing.assert_array_equal(pixels(Image.open(io.BytesIO(small))), pixels(noisy))


def test_metadata_is_stripped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "Camera maker"
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta/>")
    data = to_bytes(quadrants(), "PNG", exif=exif, pnginfo=info)
    for fmt in WRITABLE_FORMATS:
        decoded = decode(data, LIMITS)
        result = Image.open(io.BytesIO(encode(decoded.frames, [0], 0, fmt)))
        result.load()
        exif = result.getexif()  # for TIFF, its own structural tags
        assert 0x010F not in exif, fmt  # Make
        assert 0x8825 not in exif, fmt  # GPS IFD
        leaked = {"exif", "xmp", "XML:com.adobe.xmp", "Comment", "comment"} & set(result.info)
        assert not leaked, fmt


def test_jpeg_exif_and_comment_are_stripped() -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)
    data = to_bytes(quadrants(), "JPEG", exif=exif, comment=b"secret")
    assert b"secret" in data
    output = encode(decode(data, LIMITS).frames, [0], 0, ImageFormat.JPEG)
    assert b"secret" not in output
    assert b"Exif" not in output


@pytest.mark.parametrize(
    "fmt",
    [ImageFormat.JPEG, ImageFormat.PNG, ImageFormat.WEBP, ImageFormat.AVIF, ImageFormat.TIFF],
)
def test_icc_profile_is_kept(fmt: ImageFormat) -> None:
    profile = swapped_profile()
    data = to_bytes(quadrants(), "PNG", icc_profile=profile)
    decoded = decode(data, LIMITS)
    assert decoded.icc == profile
    result = _encode(decoded.frames[0], fmt, icc=decoded.icc)
    assert result.info.get("icc_profile") == profile


@pytest.mark.parametrize("fmt", [ImageFormat.GIF, ImageFormat.BMP, ImageFormat.JXL])
def test_formats_without_profiles_get_srgb_pixels(fmt: ImageFormat) -> None:
    result = _encode(Image.new("RGB", (16, 16), RED), fmt, icc=swapped_profile())
    if fmt is not ImageFormat.JXL:  # libjxl describes its own sRGB encoding as a profile
        assert not result.info.get("icc_profile")
    red, _, blue = colour_at(result, 8, 8)[:3]
    assert blue > 150
    assert red < 100


def test_rgb_profile_is_not_attached_to_gray_pixels() -> None:
    result = _encode(quadrants().convert("L"), ImageFormat.JPEG, icc=srgb_profile())
    assert "icc_profile" not in result.info


@pytest.mark.parametrize(
    ("fmt", "loop"),
    [(ImageFormat.GIF, 0), (ImageFormat.GIF, 3), (ImageFormat.WEBP, 2), (ImageFormat.PNG, 0)],
)
def test_animations_keep_frames_durations_and_plays(fmt: ImageFormat, loop: int) -> None:
    frames = _animation(5)
    durations = [40, 80, 120, 160, 200]
    data = encode(frames, durations, loop, fmt)
    result = Image.open(io.BytesIO(data))
    assert result.format == fmt.value
    assert getattr(result, "n_frames", 1) == 5
    assert durations_of(data) == durations
    plays = result.info.get("loop")
    assert (plays + 1 if fmt is ImageFormat.GIF and plays else plays) == loop


def test_gif_that_plays_once_has_no_loop_extension() -> None:
    data = encode(_animation(2), [100, 100], 1, ImageFormat.GIF)
    assert "loop" not in Image.open(io.BytesIO(data)).info


def test_animated_avif_keeps_frames_and_durations() -> None:
    data = encode(_animation(3, (32, 32)), [100, 200, 300], 0, ImageFormat.AVIF)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    assert durations_of(data) == [100, 200, 300]


def test_formats_that_cannot_animate_get_the_first_frame() -> None:
    result = _encode(Image.new("RGB", (8, 8), RED), ImageFormat.JPEG)
    data = encode(_animation(3), [10, 10, 10], 0, ImageFormat.JPEG)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 1
    assert near(colour_at(result, 4, 4)[:3], RED, 8)


def test_transparent_animation_does_not_show_earlier_frames() -> None:
    first = Image.new("RGBA", (20, 20), (*RED, 255))
    second = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    second.paste((*BLUE, 255), (0, 0, 10, 20))
    data = encode([first, second], [100, 100], 0, ImageFormat.GIF)
    shown = Image.open(io.BytesIO(data))
    shown.seek(1)
    assert colour_at(shown.convert("RGBA"), 15, 10)[3] == 0


def test_webp_refuses_sides_it_cannot_hold() -> None:
    with pytest.raises(ImgflowError) as caught:
        encode([Image.new("RGB", (17_000, 1))], [0], 0, ImageFormat.WEBP)
    assert caught.value.code is ErrorCode.INVALID_OPERATION
