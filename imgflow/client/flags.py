"""Pipeline operations as command-line flags, from one table.

Each flag turns its value into one `OperationInput` (see schema.graphql) and appends
it to `args.operations` in the order the flags were given: a pipeline is ordered, so
`--resize 800 --rotate 90` and `--rotate 90 --resize 800` are different jobs. A new
operation joins with one parsing function and one row in `FLAGS`.

Values are checked for form here (a bad one is a usage error, exit 2); the service
checks them against its own limits (BAD_USER_INPUT).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from imgflow.imaging.formats import OutputFormat

Operation = dict[str, Any]
"""One `OperationInput`, as JSON."""

FORMAT_ALIASES = {"JPG": OutputFormat.JPEG, "TIF": OutputFormat.TIFF}
SIZE = re.compile(r"(?P<width>\d+)?(?:[xX](?P<height>\d+))?")
FLIP_DIRECTIONS = ("horizontal", "vertical")


def fail(message: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(message)


def whole(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise fail(f"{what} must be a whole number, got {text!r}") from None


def positive(text: str, what: str) -> int:
    value = whole(text, what)
    if value < 1:
        raise fail(f"{what} must be at least 1, got {value}")
    return value


def radius(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise fail(f"radius must be a number of pixels, got {text!r}") from None
    if not value > 0:  # also refuses nan
        raise fail(f"radius must be more than 0, got {text.strip()}")
    return value


def numbers(text: str, low: int, high: int, form: str) -> list[str]:
    parts = text.split(",")
    if not low <= len(parts) <= high:
        raise fail(f"expected {form}, got {text!r}")
    return parts


def rotate(text: str) -> Operation:
    return {"rotate": {"degrees": whole(text, "DEG")}}


def size(text: str) -> tuple[int | None, int | None]:
    match = SIZE.fullmatch(text.strip())
    if not match or not (match["width"] or match["height"]):
        raise fail(f"expected WxH, W or xH (e.g. 800x600, 800, x600), got {text!r}")
    width, height = (positive(v, "a side") if v else None for v in match.group("width", "height"))
    return width, height


def resize(text: str) -> Operation:
    width, height = size(text)
    return {"resize": {"width": width, "height": height}}


def force_resize(text: str) -> Operation:
    width, height = size(text)
    if width is None or height is None:
        raise fail(f"expected WxH (both sides, e.g. 800x600), got {text!r}")
    return {"forceResize": {"width": width, "height": height}}


def image_format(text: str) -> OutputFormat:
    name = text.strip().upper()
    try:
        return FORMAT_ALIASES.get(name) or OutputFormat(name)
    except ValueError:
        choices = ", ".join(f.value.lower() for f in OutputFormat)
        raise fail(f"unknown format {text!r}: choose from {choices}") from None


def convert(text: str) -> Operation:
    name, _, rest = text.partition(":")
    quality_text, colon, bytes_text = rest.partition(":")
    quality = whole(quality_text, "QUALITY") if quality_text else None
    if quality is not None and not 1 <= quality <= 100:
        raise fail(f"QUALITY must be between 1 and 100, got {quality}")
    step: dict[str, object] = {"format": image_format(name).value, "quality": quality}
    if colon:
        max_bytes = whole(bytes_text, "MAXBYTES")
        if max_bytes < 100:
            raise fail(f"MAXBYTES must be at least 100, got {max_bytes}")
        step["maxBytes"] = max_bytes
    return {"convert": step}


def crop(text: str) -> Operation:
    left, top, width, height = numbers(text, 4, 4, "L,T,W,H (e.g. 10,20,300,200)")
    rectangle = {"left": whole(left, "L"), "top": whole(top, "T")}
    if rectangle["left"] < 0 or rectangle["top"] < 0:
        raise fail(f"L and T must not be negative, got {text!r}")
    return {"crop": {**rectangle, "width": positive(width, "W"), "height": positive(height, "H")}}


def flip(text: str) -> Operation:
    direction = text.strip().lower()
    if direction not in FLIP_DIRECTIONS:
        raise fail(f"expected {' or '.join(FLIP_DIRECTIONS)}, got {text!r}")
    return {"flip": {"direction": direction.upper()}}


def blur(text: str) -> Operation:
    return {"blur": {"radius": radius(text)}}


def sharpen(text: str) -> Operation:
    """R[,PERCENT[,THRESHOLD]]; what is left out takes the service's default."""
    parts = numbers(text, 1, 3, "R[,PERCENT,THRESHOLD] (e.g. 2 or 2,150,3)")
    options: dict[str, float | int] = {"radius": radius(parts[0])}
    if len(parts) > 1:
        options["percent"] = whole(parts[1], "PERCENT")
    if len(parts) > 2:
        options["threshold"] = whole(parts[2], "THRESHOLD")
    return {"sharpen": options}


@dataclass(frozen=True)
class OperationFlag:
    option: str
    metavar: str | None  # None: a switch that takes no value
    help: str
    parse: Callable[[str], Operation]


FLAGS = (
    OperationFlag("--rotate", "DEG", "rotate counter-clockwise by DEG degrees", rotate),
    OperationFlag("--resize", "WxH|W|xH", "fit inside WxH keeping the aspect ratio", resize),
    OperationFlag("--force-resize", "WxH", "scale to exactly WxH", force_resize),
    OperationFlag(
        "--convert",
        "FORMAT[:QUALITY[:MAXBYTES]]",
        "encode as FORMAT (jpeg, png, webp, avif, gif, tiff, bmp, jxl, or auto: the smallest),"
        " QUALITY 1-100, at most MAXBYTES (webp::150000: the best quality that fits)",
        convert,
    ),
    OperationFlag("--crop", "L,T,W,H", "keep the WxH rectangle at left L, top T", crop),
    OperationFlag("--flip", "horizontal|vertical", "mirror the image", flip),
    OperationFlag("--grayscale", None, "drop colour", lambda _: {"grayscale": True}),
    OperationFlag("--blur", "R", "Gaussian blur of radius R pixels", blur),
    OperationFlag("--sharpen", "R[,PERCENT,THRESHOLD]", "unsharp mask (defaults 2,150,3)", sharpen),
)


class AppendOperation(argparse.Action):
    """Appends the flag's operation to one list shared by every operation flag."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        # A switch (nargs=0) gets no value: its operation is its `const`.
        step = self.const if self.nargs == 0 else values
        steps = [*(getattr(namespace, self.dest, None) or []), step]
        setattr(namespace, self.dest, steps)


def add_operation_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("operations (applied in the order given)")
    for flag in FLAGS:
        if flag.metavar is None:
            group.add_argument(
                flag.option,
                action=AppendOperation,
                dest="operations",
                nargs=0,
                const=flag.parse(""),
                help=flag.help,
            )
        else:
            group.add_argument(
                flag.option,
                action=AppendOperation,
                dest="operations",
                type=flag.parse,
                metavar=flag.metavar,
                help=flag.help,
            )
