"""Reading an operation's command-line flag text (`--resize 800x600`).

Values are checked for form here (a bad one is a usage error, exit 2, with this
message); the service checks them against its own limits (BAD_USER_INPUT). Kept free
of Pillow: the command-line client loads it.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import Any

from imgflow.imaging.formats import OutputFormat
from imgflow.imaging.step import Step, enum_type, field_types, graphql_name, plain_type

FORMAT_ALIASES = {"JPG": OutputFormat.JPEG, "TIF": OutputFormat.TIFF}
SIZE = re.compile(r"(?P<width>\d+)?(?:[xX](?P<height>\d+))?")


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


def number(text: str, what: str) -> float:
    """A float, nan included (callers compare, and nan fails every comparison)."""
    try:
        return float(text.strip())
    except ValueError:
        raise fail(f"{what} must be a number, got {text!r}") from None


def radius(text: str) -> float:
    value = number(text, "radius")
    if not value > 0:  # also refuses nan
        raise fail(f"radius must be more than 0, got {text.strip()}")
    return value


def numbers(text: str, low: int, high: int, form: str) -> list[str]:
    parts = text.split(",")
    if not low <= len(parts) <= high:
        raise fail(f"expected {form}, got {text!r}")
    return parts


def size_text(text: str) -> tuple[int | None, int | None]:
    """`WxH`, `W` or `xH`."""
    match = SIZE.fullmatch(text.strip())
    if not match or not (match["width"] or match["height"]):
        raise fail(f"expected WxH, W or xH (e.g. 800x600, 800, x600), got {text!r}")
    width, height = (positive(v, "a side") if v else None for v in match.group("width", "height"))
    return width, height


def image_format(text: str) -> OutputFormat:
    """A format `convert` can write (or `auto`), by name: `jpg` and `tif` too."""
    name = text.strip().upper()
    try:
        return FORMAT_ALIASES.get(name) or OutputFormat(name)
    except ValueError:
        choices = ", ".join(f.value.lower() for f in OutputFormat)
        raise fail(f"unknown format {text!r}: choose from {choices}") from None


def fields_text(cls: type[Step], text: str) -> dict[str, Any]:
    """The default flag form: `VALUE,...` in field order, then `field=VALUE,...` by
    GraphQL name; what is left out takes the service's default."""
    hints = {graphql_name(name): hint for name, hint in field_types(cls).items()}
    names = list(hints)
    values: dict[str, Any] = {}
    parts = [part for part in text.split(",") if part.strip()] if text.strip() else []
    named = False
    for position, part in enumerate(parts):
        key, equals, value = part.partition("=")
        named = named or bool(equals)
        if not equals:
            if named or position >= len(names):  # positional values come first
                raise fail(f"expected {', '.join(names)} in order, or name=value, got {text!r}")
            key, value = names[position], part
        key = key.strip()
        if key not in hints:
            raise fail(f"unknown field {key!r}: choose from {', '.join(names)}")
        values[key] = _value(value, key, plain_type(hints[key]), enum_type(hints[key]))
    missing = [
        graphql_name(field.name)
        for field in dataclasses.fields(cls)
        if field.default is dataclasses.MISSING and graphql_name(field.name) not in values
    ]
    if missing:
        raise fail(f"missing {', '.join(missing)} in {text!r}")
    return values


def _value(text: str, key: str, kind: Any, enum: Any) -> Any:
    if enum is not None:
        name = text.strip().upper()
        if name not in enum.__members__:
            choices = ", ".join(member.lower() for member in enum.__members__)
            raise fail(f"{key} must be one of {choices}, got {text!r}")
        return enum[name].value
    if kind is int:
        return whole(text, key)
    if kind is float:
        return number(text, key)
    return text
