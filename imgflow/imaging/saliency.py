"""Where the interesting part of a picture is, for crops that keep it (fill's ATTENTION,
ENTROPY and FACES gravities).

Each finder looks at a small copy of the frame (`LOOK_SIDE` pixels on its long side:
enough to place a crop, cheap on any source) and answers the best crop window's
offset along the one axis a fill crops. Pillow, numpy and OpenCV are imported inside
the functions: the command-line client loads the operation registry without them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import cv2
    import numpy as np
    from numpy.typing import NDArray
    from PIL import Image

LOOK_SIDE = 256
"""The side the attention and entropy finders look at."""
FACE_PIXELS = 640 * 640
"""The size faces are looked for at (in pixels, whatever the shape: a wide picture's
faces must not shrink below the cascade's 24 px window)."""

_local = threading.local()


def small_copy(frame: Image.Image, side: int) -> Image.Image:
    """`frame` as RGB, its long side at most `side` (never enlarged)."""
    from PIL import Image

    factor = min(1.0, side / max(frame.size))
    size = (max(1, round(frame.width * factor)), max(1, round(frame.height * factor)))
    # Scaled first, converted after: no full-size copy of a big frame is made.
    small = frame.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return small.convert("RGB") if small.mode != "RGB" else small


def face_copy(frame: Image.Image) -> Image.Image:
    """`frame` as RGB, at most `FACE_PIXELS` pixels (never enlarged)."""
    width, height = frame.size
    factor = min(1.0, (FACE_PIXELS / (width * height)) ** 0.5)
    return small_copy(frame, max(1, round(max(width, height) * factor)))


def attention_map(small: Image.Image) -> NDArray[np.float64]:
    """libvips' attention measure: edges, saturated colour and skin tones, each 0-1,
    summed per pixel."""
    import numpy as np
    from PIL import ImageFilter

    rgb = np.asarray(small, dtype=np.float64) / 255
    edges = np.asarray(small.convert("L").filter(ImageFilter.FIND_EDGES), dtype=np.float64)
    saturation = np.asarray(small.convert("HSV"), dtype=np.float64)[..., 1] / 255
    brightness = rgb.max(axis=2)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # Skin in normalised RGB (Kovac et al.), the rule libvips' skin detector follows.
    skin = (
        (red > 0.37)
        & (green > 0.16)
        & (blue > 0.08)
        & (red > green)
        & (red > blue)
        & (np.abs(red - green) > 0.06)
    )
    # Saturation counts where it is visible: near-black pixels have noisy hue.
    interest: NDArray[np.float64] = (
        edges / 255 + saturation * (brightness > 0.2) + skin.astype(np.float64)
    )
    return interest


def entropy_offset(small: Image.Image, window: int, axis: int) -> int:
    """libvips' entropy crop: shave strips off whichever end carries less information
    (histogram entropy) until `window` pixels are left along `axis` (0 = x, 1 = y)."""
    start, end = 0, small.size[axis]
    grey = small.convert("L")
    while end - start > window:
        strip = max(1, min((end - start - window), small.size[axis] // 16))
        first = _strip(grey, axis, start, start + strip).entropy()
        last = _strip(grey, axis, end - strip, end).entropy()
        if first < last:
            start += strip
        else:
            end -= strip
    return start


def _strip(image: Image.Image, axis: int, start: int, end: int) -> Image.Image:
    width, height = image.size
    box = (start, 0, end, height) if axis == 0 else (0, start, width, end)
    return image.crop(box)


def faces(small: Image.Image) -> list[tuple[int, int, int, int]]:
    """Frontal faces as (x, y, width, height) in `small`'s pixels, found by the Haar
    cascades that ship inside opencv-python-headless (no download at run time).

    A face counts when two cascades (`frontalface_default` and `frontalface_alt2`) both
    find it: on the labelled sample in the README either one alone took waterfalls,
    roses and wood grain for faces; together they found every face they saw and no
    false one. Faces under a twentieth of the short side are not looked for."""
    import cv2
    import numpy as np

    grey = cv2.equalizeHist(np.asarray(small.convert("L")))
    least = max(24, min(small.size) // 20)
    finder, checker = _cascades()
    found = finder.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(least, least))
    return [box for box in (_box(values) for values in found) if _confirmed(checker, grey, box)]


def _box(values: Sequence[int]) -> tuple[int, int, int, int]:
    x, y, w, h = (int(value) for value in values)
    return x, y, w, h


def _confirmed(checker: cv2.CascadeClassifier, grey: NDArray[Any], box: Sequence[int]) -> bool:
    """The second cascade looks only around the first one's find (a quarter of its size
    each way): the same answer as a second full pass, at a fraction of its cost."""
    x, y, w, h = box
    left, top = max(0, x - w // 4), max(0, y - h // 4)
    around = grey[top : y + h + h // 4, left : x + w + w // 4]
    smallest = max(20, w * 2 // 3)
    others = checker.detectMultiScale(around, 1.1, 5, minSize=(smallest, smallest))
    shifted = [(int(a) + left, int(b) + top, int(c), int(d)) for a, b, c, d in others]
    return any(_overlap(box, other) > 0.3 for other in shifted)


def _overlap(one: Sequence[int], other: Sequence[int]) -> float:
    """Intersection over union of two (x, y, width, height) boxes."""
    width = min(one[0] + one[2], other[0] + other[2]) - max(one[0], other[0])
    height = min(one[1] + one[3], other[1] + other[3]) - max(one[1], other[1])
    shared = max(0, width) * max(0, height)
    return shared / (one[2] * one[3] + other[2] * other[3] - shared)


def _cascades() -> tuple[cv2.CascadeClassifier, cv2.CascadeClassifier]:
    """One pair per thread: OpenCV's classifiers are not safe to share between threads."""
    import cv2

    pair: tuple[cv2.CascadeClassifier, cv2.CascadeClassifier] | None = getattr(
        _local, "cascades", None
    )
    if pair is None:
        folder = cv2.data.haarcascades  # type: ignore[attr-defined]  # stubs lack cv2.data
        pair = (
            cv2.CascadeClassifier(folder + "haarcascade_frontalface_default.xml"),
            cv2.CascadeClassifier(folder + "haarcascade_frontalface_alt2.xml"),
        )
        _local.cascades = pair
    return pair


def best_offset(profile: NDArray[np.float64], window: int) -> int:
    """The offset of the `window`-long run of `profile` with the most interest; ties go
    to the run whose middle is nearest the interest's centre of mass."""
    import numpy as np

    total = float(profile.sum())
    if window >= len(profile) or total <= 0:
        return max(0, (len(profile) - window) // 2)
    sums = np.convolve(profile, np.ones(window), mode="valid")
    centre = float((profile * np.arange(len(profile))).sum()) / total
    offsets = np.flatnonzero(sums >= sums.max() - 1e-9 * total)
    return int(offsets[np.argmin(np.abs(offsets + window / 2 - centre))])
