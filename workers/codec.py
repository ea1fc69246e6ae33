"""Bytes to frames and back: the only place Pillow parses or writes files.

`decode` turns any accepted upload into upright, fully loaded RGB/RGBA/L/LA frames
(so operations never meet palettes, CMYK or 16-bit), or raises `ImgflowError`.
`encode` writes frames from pixels alone: source metadata never reaches the output,
except the ICC profile, which is part of what the colours mean.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageCms, ImageFile, UnidentifiedImageError, features

from imgflow.errors import ErrorCode, ImgflowError
from workers.formats import ImageFormat
from workers.info import Limits
from workers.limits import Deadline, check_frame_pixels, check_total_pixels
from workers.operations import MAX_SIDE
from workers.source import PILLOW_PLUGINS, check_frame_sizes, counted_frames, open_as, sniff

Size = tuple[int, int]
ShrinkHint = Callable[[Size], Size | None]
"""Given the upright source size, the size the pipeline will scale down to, if any."""

ACCEPTED_FORMATS = {
    "JPEG": ImageFormat.JPEG,
    "MPO": ImageFormat.JPEG,  # camera JPEGs with a gain map or stereo pair
    "PNG": ImageFormat.PNG,
    "GIF": ImageFormat.GIF,
    "WEBP": ImageFormat.WEBP,
    "TIFF": ImageFormat.TIFF,
    "BMP": ImageFormat.BMP,
    "AVIF": ImageFormat.AVIF,
}
ANIMATED_FORMATS = frozenset({ImageFormat.GIF, ImageFormat.PNG, ImageFormat.WEBP, ImageFormat.AVIF})
"""Formats whose multi-frame files are animations (TIFF pages are not)."""
_PLUGINS = [plugin for plugins in PILLOW_PLUGINS.values() for plugin in plugins]
"""Pillow plugins that may open our own encoded output (uploads get their sniffed one)."""
MULTI_FRAME_OUTPUTS = ANIMATED_FORMATS | {ImageFormat.TIFF}

JPEG_QUALITY = 85
WEBP_QUALITY = 80
WEBP_METHOD = 4
AVIF_QUALITY = 60
AVIF_SPEED = 8
"""12 MP photo on 2 cores: speed 6 1.9 s / 269 kB, speed 8 0.9 s / 334 kB (WebP m4: 0.9 s).

Speed 8 keeps AVIF about as costly as WebP; 6 would make it the slowest job type.
"""
PNG_COMPRESS_LEVEL = 3
"""zlib level. PNG encoding dominates the CPU of a job. Measured with
benchmarks/raw_baseline.py on the load test's mix (bench photo_1mp.jpg + photo_2mp.png,
2 threads, 100 jobs x 3): level 6 11.65 jobs/s, level 3 24.26 (2.08x) for +9.9% PNG
bytes, level 1 28.78 (2.47x) for +15.7%. Level 3 buys most of the speed for little
size; clients who want smaller files can re-compress offline."""
TIFF_COMPRESSION = "tiff_adobe_deflate"
DRAFT_MARGIN = 2
"""Shrink-on-load keeps at least twice the target size (PSNR 55 dB vs a full decode;
1x is visibly softer, BASELINES.md)."""

_MAX_SIDES = {ImageFormat.WEBP: 16_383, ImageFormat.JPEG: 65_500}
_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = frozenset({5, 6, 7, 8})
# What Pillow raises on hostile or damaged data, across its plugins.
_DECODE_ERRORS = (
    OSError,  # includes UnidentifiedImageError
    ValueError,
    TypeError,
    SyntaxError,
    EOFError,
    struct.error,
    LookupError,
    ArithmeticError,
    MemoryError,
    RuntimeError,  # includes RecursionError; the AVIF decoder's way to say "damaged"
    ImageCms.PyCMSError,
)
_SRGB = ImageCms.createProfile("sRGB")

ImageFile.LOAD_TRUNCATED_IMAGES = False  # never hand out a half-grey image


@dataclass(frozen=True)
class Decoded:
    """An upload as upright frames ready for operations."""

    frames: tuple[Image.Image, ...]
    durations: tuple[int, ...]
    """Per frame, in milliseconds (0 for stills and pages)."""
    loop: int
    """How many times the animation plays; 0 means forever."""
    format: ImageFormat
    icc: bytes | None
    animated: bool
    size: Size
    """Upright size of the source, before any shrink-on-load."""


@dataclass(frozen=True)
class Header:
    """What decode knows of a source before loading any pixels."""

    format: ImageFormat
    sizes: tuple[Size, ...]
    """Upright size of each frame (TIFF pages differ; an animation's share its canvas)."""


Plan = Callable[[Header], None]
"""Raises to refuse the source from its header, before any frame is decoded."""


# --- decode -----------------------------------------------------------------------------


def decode(
    data: bytes,
    limits: Limits,
    shrink: ShrinkHint | None = None,
    *,
    plan: Plan | None = None,
    deadline: Deadline | None = None,
) -> Decoded:
    """Frames of an accepted image; `ImgflowError` for anything else.

    Every size and count the headers declare is checked against `limits` before the
    first frame is loaded, and `plan` may refuse the image from its header too.
    `shrink` lets a JPEG decode at a reduced scale (libjpeg DCT scaling) when the
    pipeline will scale it down anyway; `Decoded.size` still reports the full size.
    `deadline` (by default the limits' time limit from now) is checked between frames.
    """
    if not data:
        raise ImgflowError(ErrorCode.EMPTY_FILE, "the file is empty")
    fmt = _accepted_format(data)
    clock = deadline or Deadline(limits.job_time_limit_seconds)
    try:
        with open_as(data, fmt) as image:
            return _read(image, data, limits, shrink, plan, clock)
    except ImgflowError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own ceiling, hit before our check could run: its message quotes
        # Pillow's limit, not ours, so it is not passed on.
        raise ImgflowError(
            ErrorCode.IMAGE_TOO_LARGE, "the image declares too many pixels to decode safely"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImgflowError(
            ErrorCode.CORRUPT_IMAGE, f"the file starts like a {fmt.value} but cannot be decoded"
        ) from exc
    except _DECODE_ERRORS as exc:
        raise ImgflowError(
            ErrorCode.CORRUPT_IMAGE, f"the image data is damaged or truncated ({exc})"
        ) from exc


def _accepted_format(data: bytes) -> ImageFormat:
    """The sniffed format; anything else never reaches Pillow (EPS would run
    Ghostscript on load, and TGA has no magic number, so it would claim random bytes)."""
    fmt = sniff(data)
    if fmt is None or (fmt is ImageFormat.AVIF and not features.check_module("avif")):
        raise ImgflowError(
            ErrorCode.UNSUPPORTED_FORMAT,
            "not an image in an accepted format (JPEG, PNG, GIF, WebP, TIFF, BMP, AVIF)",
        )
    return fmt


def _read(
    image: ImageFile.ImageFile,
    data: bytes,
    limits: Limits,
    shrink: ShrinkHint | None,
    plan: Plan | None,
    deadline: Deadline,
) -> Decoded:
    fmt = ACCEPTED_FORMATS.get(image.format or "")
    if fmt is None:  # defence in depth; the sniffed plugin alone opened it
        raise ImgflowError(ErrorCode.UNSUPPORTED_FORMAT, f"{image.format} is not accepted")
    check_frame_pixels(image.size, limits, "the image")
    count = counted_frames(image, fmt, data, limits)
    stored = check_frame_sizes(image, fmt, count, limits)
    orientation = _orientation(image, fmt)
    size = _upright(image.size, orientation)
    if plan is not None:
        plan(Header(fmt, tuple(_upright(frame, orientation) for frame in stored)))
    if shrink is not None and fmt is ImageFormat.JPEG:
        _shrink_on_load(image, shrink(size), orientation)
    frames, durations = _load_frames(image, count, limits, deadline)
    frames, icc = _normalise(frames, image.info.get("icc_profile") or None, deadline)
    animated = fmt in ANIMATED_FORMATS and count > 1
    return Decoded(
        frames=_upright_frames(frames, orientation, deadline),
        durations=tuple(durations) if animated else (0,) * count,
        loop=_plays(image, fmt) if animated else 0,
        format=fmt,
        icc=icc,
        animated=animated,
        size=size,
    )


def _orientation(image: Image.Image, fmt: ImageFormat) -> int:
    """EXIF orientation (Pillow folds in XMP's); 1 when absent or invalid (0, text...)."""
    if fmt is ImageFormat.TIFF:
        return 1  # Pillow's TIFF plugin already reports upright sizes and loads upright pages
    value = image.getexif().get(ExifTags.Base.Orientation)
    return value if isinstance(value, int) and value in _ORIENTATIONS else 1


def _upright(size: Size, orientation: int) -> Size:
    return (size[1], size[0]) if orientation in _SWAPS_AXES else size


def _shrink_on_load(image: ImageFile.ImageFile, target: Size | None, orientation: int) -> None:
    if target is None:
        return
    width, height = _upright(target, orientation)  # back to stored orientation
    image.draft(image.mode, (DRAFT_MARGIN * width, DRAFT_MARGIN * height))


def _upright_frames(
    frames: list[Image.Image], orientation: int, deadline: Deadline
) -> tuple[Image.Image, ...]:
    transpose = _ORIENTATIONS.get(orientation)
    if transpose is not None:
        frames = [frame.transpose(transpose) for frame in deadline.paced(frames, "uprighting")]
    for frame in frames:
        frame.info = {}  # so no encoder can copy EXIF, XMP, comments or text chunks
    return tuple(frames)


def _load_frames(
    image: ImageFile.ImageFile, count: int, limits: Limits, deadline: Deadline
) -> tuple[list[Image.Image], list[int]]:
    frames: list[Image.Image] = []
    durations: list[int] = []
    loaded = 0
    for index in range(count):
        if index:  # seeking to 0 would undo a JPEG draft
            deadline.check(f"decoding frame {index + 1}")
            image.seek(index)
            check_frame_pixels(image.size, limits, f"frame {index + 1}")
        # Sizes were checked from the headers; a GIF frame can still grow the canvas.
        loaded += image.width * image.height
        check_total_pixels(loaded, limits, f"the first {index + 1} frames")
        frames.append(image.copy())  # copy() loads; seek() reuses `image`
        # AVIF only knows a frame's duration once it is loaded.
        durations.append(int(image.info.get("duration") or 0))
    return frames, durations


def _plays(image: Image.Image, fmt: ImageFormat) -> int:
    loop = image.info.get("loop")
    if fmt is ImageFormat.GIF:
        # GIF's NETSCAPE count is *repeats*, and its absence means play once.
        return 1 if loop is None else (0 if loop == 0 else int(loop) + 1)
    return int(loop or 0)  # APNG/WebP count plays; Pillow reads no count from AVIF


# --- colour normalisation ----------------------------------------------------------------


def _normalise(
    frames: list[Image.Image], icc: bytes | None, deadline: Deadline
) -> tuple[list[Image.Image], bytes | None]:
    if frames[0].mode == "CMYK":
        # The pixels become sRGB, so a CMYK profile no longer describes them.
        return [_cmyk_to_rgb(frame, icc) for frame in deadline.paced(frames, "converting")], None
    frames = [_working_mode(frame) for frame in deadline.paced(frames, "converting")]
    mode = _common_mode({frame.mode for frame in frames})
    return [frame if frame.mode == mode else frame.convert(mode) for frame in frames], icc


def _cmyk_to_rgb(frame: Image.Image, icc: bytes | None) -> Image.Image:
    if icc is not None:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(frame, source, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken or non-CMYK profile: fall back to the naive formula
        else:
            assert converted is not None
            return converted
    return frame.convert("RGB")


def _working_mode(frame: Image.Image) -> Image.Image:
    if frame.mode.startswith("I"):
        return _sixteen_to_eight(frame)
    if frame.mode in ("RGB", "RGBA", "L", "LA") and "transparency" not in frame.info:
        return frame
    gray = frame.mode in ("1", "L", "LA", "La", "F")
    if frame.has_transparency_data:
        return frame.convert("LA" if gray else "RGBA")
    return frame.convert("L" if gray else "RGB")


def _sixteen_to_eight(frame: Image.Image) -> Image.Image:
    """I;16*/I gray to L (LA with a tRNS key), scaled: Pillow's convert clips at 255.

    Worked in place on one int32 array: 4 bytes a pixel, where int64 temporaries made a
    50 Mpx frame cost over a gigabyte."""
    values = np.array(frame, dtype=np.int32)
    key = frame.info.get("transparency")
    alpha = None
    if isinstance(key, int):
        alpha = Image.fromarray(np.where(values == key, np.uint8(0), np.uint8(255)))
    np.clip(values, 0, 65_535, out=values)
    values += 128
    values //= 257
    gray = Image.fromarray(values.astype(np.uint8))
    return gray if alpha is None else Image.merge("LA", (gray, alpha))


def _common_mode(modes: set[str]) -> str:
    """One mode for all frames, so every frame of an animation is treated alike."""
    if len(modes) == 1:
        return next(iter(modes))
    alpha = bool(modes & {"RGBA", "LA"})
    if modes <= {"L", "LA"}:
        return "LA" if alpha else "L"
    return "RGBA" if alpha else "RGB"


# --- encode -----------------------------------------------------------------------------


def encode(
    frames: Sequence[Image.Image],
    durations: Sequence[int],
    loop: int,
    fmt: ImageFormat,
    quality: int | None = None,
    icc: bytes | None = None,
    *,
    png_compress_level: int = PNG_COMPRESS_LEVEL,
    deadline: Deadline | None = None,
) -> bytes:
    """`frames` written as `fmt`, from pixels only.

    Several frames become an animation (GIF, WebP, APNG, AVIF) or pages (TIFF); other
    formats get the first frame. `loop` is a play count, 0 = forever. `quality` only
    affects JPEG, WebP and AVIF; `png_compress_level` (zlib 0-9) only PNG. The ICC
    profile is embedded where the format carries one and it matches the frames (RGB or
    gray); GIF and BMP get sRGB pixels instead. `deadline` is checked between frames
    while they are prepared; the encoder then writes them all in one call.
    """
    frames = list(frames) if fmt in MULTI_FRAME_OUTPUTS else list(frames[:1])
    _check_sides(frames[0].size, fmt)
    clock = deadline or Deadline(math.inf)
    if fmt in (ImageFormat.GIF, ImageFormat.BMP):
        frames = [_to_srgb(frame, icc) for frame in clock.paced(frames, "colour-managing")]
        icc = None
    frames = [_encodable(frame, fmt) for frame in clock.paced(frames, "preparing")]
    params = _format_params(fmt, quality, _matching_icc(frames[0], icc), png_compress_level)
    if len(frames) > 1:
        params.update(_sequence_params(frames, durations, loop, fmt))
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt.value, **params)
    return buffer.getvalue()


def frame_count(data: bytes) -> int:
    """Frames in an encoded image (encoders merge identical neighbours, so ask the file)."""
    with Image.open(io.BytesIO(data), formats=_PLUGINS) as image:
        return int(getattr(image, "n_frames", 1))


def _check_sides(size: Size, fmt: ImageFormat) -> None:
    limit = _MAX_SIDES.get(fmt, MAX_SIDE)
    if max(size) > limit:
        raise ImgflowError(
            ErrorCode.INVALID_OPERATION,
            f"{fmt.value} cannot hold a {size[0]}x{size[1]} image (at most {limit} per side)",
        )


def _to_srgb(frame: Image.Image, icc: bytes | None) -> Image.Image:
    if icc is None or _colour_space(icc) != "RGB " or frame.mode not in ("RGB", "RGBA"):
        return frame
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(frame, source, _SRGB)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return frame  # an unusable profile: the pixels are the best we have
    assert converted is not None
    return converted


def _encodable(frame: Image.Image, fmt: ImageFormat) -> Image.Image:
    if fmt in (ImageFormat.JPEG, ImageFormat.BMP):
        return _flatten(frame)
    if fmt is ImageFormat.GIF:
        return _palette(frame)
    # WebP has no gray, and AVIF's gray has no alpha: widen here, not in the encoder,
    # so the ICC check below sees the mode that is actually written.
    if (fmt is ImageFormat.WEBP and frame.mode == "L") or (
        fmt in (ImageFormat.WEBP, ImageFormat.AVIF) and frame.mode == "LA"
    ):
        return frame.convert("RGBA" if frame.mode == "LA" else "RGB")
    return frame


def _flatten(frame: Image.Image) -> Image.Image:
    """Alpha composited onto white, for formats without alpha."""
    if frame.mode not in ("RGBA", "LA"):
        return frame
    opaque_mode = frame.mode[0] if frame.mode == "LA" else "RGB"
    white = Image.new(opaque_mode, frame.size, "white")
    return Image.composite(frame.convert(opaque_mode), white, frame.getchannel("A"))


_GIF_TRANSPARENT = 255
"""Palette index reserved for transparency; the colours get the other 255."""
_QUANTIZER = Image.Quantize.FASTOCTREE
"""Per 200x200 frame: 0.6 ms vs median cut's 23 ms, and no worse (PSNR 37.7 vs 36.1 dB)."""


def _palette(frame: Image.Image) -> Image.Image:
    if frame.mode == "L":
        return frame  # GIF writes gray directly
    if frame.mode not in ("RGBA", "LA"):
        return frame.convert("RGB").quantize(256, method=_QUANTIZER)
    # GIF transparency is on/off: below half opacity is transparent.
    indexed = frame.convert("RGB").quantize(_GIF_TRANSPARENT, method=_QUANTIZER)
    clear = frame.getchannel("A").point(lambda a: 255 if a < 128 else 0)
    indexed.paste(_GIF_TRANSPARENT, mask=clear)
    indexed.info["transparency"] = _GIF_TRANSPARENT
    return indexed


def _matching_icc(frame: Image.Image, icc: bytes | None) -> bytes | None:
    """The profile if it describes the frame's colour model (a gray frame made from an
    RGB picture must not claim an RGB profile)."""
    if icc is None:
        return None
    wanted = "GRAY" if frame.mode in ("L", "LA") else "RGB "
    return icc if _colour_space(icc) == wanted else None


def _colour_space(icc: bytes) -> str:
    return icc[16:20].decode("latin-1")  # ICC header: data colour space signature


def _format_params(
    fmt: ImageFormat, quality: int | None, icc: bytes | None, png_compress_level: int
) -> dict[str, Any]:
    profile: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if fmt is ImageFormat.JPEG:
        # optimize/progressive cost an extra pass for a few percent of bytes
        return {
            "quality": quality or JPEG_QUALITY,
            "optimize": False,
            "progressive": False,
            **profile,
        }
    if fmt is ImageFormat.WEBP:
        return {"quality": quality or WEBP_QUALITY, "method": WEBP_METHOD, **profile}
    if fmt is ImageFormat.AVIF:
        return {"quality": quality or AVIF_QUALITY, "speed": AVIF_SPEED, **profile}
    if fmt is ImageFormat.PNG:
        return {"compress_level": png_compress_level, **profile}
    if fmt is ImageFormat.TIFF:
        return {"compression": TIFF_COMPRESSION, **profile}
    return {}


def _sequence_params(
    frames: Sequence[Image.Image], durations: Sequence[int], loop: int, fmt: ImageFormat
) -> dict[str, Any]:
    params: dict[str, Any] = {"save_all": True, "append_images": frames[1:]}
    if fmt is ImageFormat.TIFF:
        return params
    params["duration"] = list(durations[: len(frames)])
    if fmt is ImageFormat.GIF:
        params.update(_gif_sequence_params(frames, loop))
    elif fmt is not ImageFormat.AVIF:  # Pillow's AVIF writer has no loop count
        params["loop"] = loop
    return params


def _gif_sequence_params(frames: Sequence[Image.Image], loop: int) -> dict[str, Any]:
    params: dict[str, Any] = {} if loop == 1 else {"loop": max(loop - 1, 0)}  # see `_plays`
    if "transparency" not in frames[0].info:
        return {**params, "disposal": 1}
    # Frames are whole pictures: clear before each, or transparent pixels would show the
    # previous frame through. Pillow's palette optimisation drops the transparent index
    # from a frame that has no transparent pixel, and readers then "clear" that frame
    # to the opaque background colour; so optimise only when every frame uses it.
    keeps_index = all(frame.histogram()[_GIF_TRANSPARENT] for frame in frames)
    return {**params, "disposal": 2, "optimize": keeps_index}
