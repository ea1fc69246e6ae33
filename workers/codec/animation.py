"""Animation: loading every frame with its duration, loop counts, and writing sequences.

Formats count loops differently (GIF's NETSCAPE block counts repeats, APNG and WebP
count plays); inside imgflow `loop` is always a play count, 0 meaning forever.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageFile

from imgflow.imaging.formats import ANIMATED_FORMATS, ImageFormat
from imgflow.imaging.info import ImageLimits
from imgflow.imaging.leash import Deadline, check_frame_pixels, check_total_pixels
from imgflow.imaging.source import PILLOW_PLUGINS
from workers.codec.colour import GIF_TRANSPARENT

"""Formats whose multi-frame files are animations (TIFF pages are not)."""
MULTI_FRAME_OUTPUTS = ANIMATED_FORMATS | {ImageFormat.TIFF}
_PLUGINS = [plugin for plugins in PILLOW_PLUGINS.values() for plugin in plugins]
"""Pillow plugins that may open our own encoded output (uploads get their sniffed one)."""


def detached(image: ImageFile.ImageFile) -> Image.Image:
    """The last (often only) frame, loaded, as a plain image sharing `image`'s pixels:
    closing the file then leaves it intact. Earlier frames are copied, because seek()
    decodes the next frame into the same pixels; copying the last one too cost 7 ms of
    a 2 MP PNG's 73 ms decode (8 MB moved for nothing)."""
    image.load()
    # Image._new is the plain-image constructor Pillow's own methods use (copy() is
    # `self._new(self.im.copy())`); the public API has no way to share a core.
    return image._new(image.im)


def load_frames(
    image: ImageFile.ImageFile, count: int, limits: ImageLimits, deadline: Deadline
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
        frames.append(image.copy() if index + 1 < count else detached(image))
        # AVIF only knows a frame's duration once it is loaded.
        durations.append(int(image.info.get("duration") or 0))
    return frames, durations


def plays(image: Image.Image, fmt: ImageFormat) -> int:
    loop = image.info.get("loop")
    if fmt is ImageFormat.GIF:
        # GIF's NETSCAPE count is *repeats*, and its absence means play once.
        return 1 if loop is None else (0 if loop == 0 else int(loop) + 1)
    return int(loop or 0)  # APNG/WebP count plays; Pillow reads no count from AVIF


def frame_count(data: bytes) -> int:
    """Frames in an encoded image (encoders merge identical neighbours, so ask the file)."""
    with Image.open(io.BytesIO(data), formats=_PLUGINS) as image:
        return int(getattr(image, "n_frames", 1))


def sequence_params(
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
    params: dict[str, Any] = {} if loop == 1 else {"loop": max(loop - 1, 0)}  # see `plays`
    if "transparency" not in frames[0].info:
        return {**params, "disposal": 1}
    # Frames are whole pictures: clear before each, or transparent pixels would show the
    # previous frame through. Pillow's palette optimisation drops the transparent index
    # from a frame that has no transparent pixel, and readers then "clear" that frame
    # to the opaque background colour; so optimise only when every frame uses it.
    keeps_index = all(frame.histogram()[GIF_TRANSPARENT] for frame in frames)
    return {**params, "disposal": 2, "optimize": keeps_index}
