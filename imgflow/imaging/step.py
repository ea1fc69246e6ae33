"""What every operation declares once: its typed, range-checked spec, its size plan and
its pixel function, plus how people name it (GraphQL, the live page, the command line).

An operation is one module in `imgflow.imaging.ops` holding one `Step` subclass;
`imgflow.imaging.registry` collects them. Everything else (the GraphQL
`OperationInput`, the live page's step list, the client's flags, JSON on the job row,
planning, the worker's dispatch) is derived from these declarations.

Pixel functions import Pillow inside their bodies: the command-line client reads the
registry for its flags and must start without loading Pillow.
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Union, get_args, get_origin, get_type_hints

from imgflow.domain import QueueName
from imgflow.errors import ErrorCode, ImgflowError

if TYPE_CHECKING:
    from PIL import Image

MAX_SIDE = 65_535
"""No side, requested or produced, may exceed what every output codec can hold."""

Size = tuple[int, int]


def bad_input(message: str) -> ImgflowError:
    return ImgflowError(ErrorCode.BAD_USER_INPUT, message)


@dataclass(frozen=True)
class Param:
    """How one spec field is bounded and described (kept in the field's metadata)."""

    low: float | None = None
    high: float | None = None
    doc: str = ""
    initial: object = None
    """What the live page's form starts with, when it is not the default."""


def param(
    default: Any = dataclasses.MISSING,
    *,
    low: float | None = None,
    high: float | None = None,
    doc: str = "",
    initial: object = None,
) -> Any:
    """A spec field with its bounds (inclusive) and its GraphQL description."""
    return dataclasses.field(default=default, metadata={"param": Param(low, high, doc, initial)})


def side(default: Any = dataclasses.MISSING, *, doc: str = "", initial: object = None) -> Any:
    """A width or height: 1 to MAX_SIDE pixels."""
    return param(default, low=1, high=MAX_SIDE, doc=doc, initial=initial)


@dataclass(frozen=True)
class Flag:
    """The command-line client's flag: `--<name with dashes> METAVAR`.

    `parse` turns the flag's text into the step's fields (GraphQL names); without one,
    the text is `VALUE,...` in field order and/or `field=VALUE,...`. A step with no
    fields is a switch.
    """

    metavar: str | None
    help: str
    parse: Callable[[str], dict[str, Any]] | None = None


@dataclass(frozen=True)
class Step:
    """One pipeline step. Subclasses are frozen dataclasses whose fields are the
    operation's arguments; the class docstring is its GraphQL description."""

    name: ClassVar[str]
    """The snake_case name stored on the job row and used in messages."""
    rank: ClassVar[int]
    """Where it stands in `OperationInput`, the live page's menu and the client's help."""
    label: ClassVar[str]
    """The live page's name for it."""
    flag: ClassVar[Flag | None] = None
    queue: ClassVar[QueueName | None] = None
    """The queue of its own, when it has one (see imgflow.imaging.routing)."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            bounds = field.metadata.get("param")
            value = getattr(self, field.name)
            if bounds is not None and value is not None:
                _check_bounds(
                    f"{graphql_name(self.name)}.{graphql_name(field.name)}", value, bounds
                )
        self.check()

    def check(self) -> None:
        """What the bounds alone cannot say; raises BAD_USER_INPUT."""

    def planned_size(self, size: Size) -> Size:
        """The frame size this step turns `size` into, from sizes alone; raises
        INVALID_OPERATION when it cannot apply to a frame of that size."""
        return size

    def scaled_source(self, size: Size) -> Size | None:
        """As a pipeline's first step, the size below which its source is not needed (a
        JPEG may then be decoded near it); None when it needs every pixel."""
        return None

    def sources(self) -> tuple[str, ...]:
        """Ids of the owner's jobs whose default results this step reads (an overlay's
        image): checked at submission, fetched by the worker before rendering."""
        return ()

    def with_sources(self, pictures: Mapping[str, Image.Image]) -> Step:
        """This step holding the decoded pictures of its `sources()`."""
        return self

    def settle(self, first: Image.Image) -> Step:
        """This step with its choices that depend on the picture (where a smart crop
        goes, what a trim cuts) made on the first frame, so every frame of an animation
        gets the same; most steps choose nothing and return themselves."""
        return self

    def apply(self, frame: Image.Image) -> Image.Image:
        """This step on one RGB, RGBA, L or LA frame, producing `planned_size`; frames
        are immutable, so a step that changes nothing may return its input."""
        return frame


def _check_bounds(name: str, value: float, bounds: Param) -> None:
    low, high = bounds.low, bounds.high
    if high is None and low is not None and not value >= low:
        raise bad_input(f"{name} must be at least {_number(low)}, got {value}")
    if low is not None and high is not None and not low <= value <= high:  # refuses nan
        raise bad_input(f"{name} must be between {_number(low)} and {_number(high)}, got {value}")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def graphql_name(name: str) -> str:
    """snake_case to the camelCase GraphQL uses: `force_resize` -> `forceResize`."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def snake_name(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


_FIELD_TYPES: dict[type[Step], Mapping[str, Any]] = {}


def field_types(cls: type[Step]) -> Mapping[str, Any]:
    """Each spec field's type, with `X | None` kept as written."""
    if cls not in _FIELD_TYPES:
        hints = get_type_hints(cls)
        _FIELD_TYPES[cls] = {field.name: hints[field.name] for field in dataclasses.fields(cls)}
    return _FIELD_TYPES[cls]


def plain_type(hint: Any) -> Any:
    """`X` for `X | None`, else the hint itself."""
    if get_origin(hint) in (Union, types.UnionType):
        members = [arg for arg in get_args(hint) if arg is not type(None)]
        return members[0] if len(members) == 1 else hint
    return hint


def is_optional(hint: Any) -> bool:
    return get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)


def enum_type(hint: Any) -> type[Enum] | None:
    plain = plain_type(hint)
    return plain if isinstance(plain, type) and issubclass(plain, Enum) else None


def spec_to_dict(step: Step) -> dict[str, Any]:
    """JSON-ready form stored on the job row: {"op": name, **fields}."""
    return {"op": step.name, **dataclasses.asdict(step)}


def spec_from_values(cls: type[Step], values: Mapping[str, Any]) -> Step:
    """`cls` from JSON values (unknown keys ignored, enums by value), validated."""
    kwargs: dict[str, Any] = {}
    for name, hint in field_types(cls).items():
        if name not in values:
            continue
        value, enum = values[name], enum_type(hint)
        try:
            kwargs[name] = enum(value) if enum is not None and value is not None else value
        except ValueError:
            raise bad_input(f"{cls.name}.{graphql_name(name)}: unknown value {value!r}") from None
    try:
        return cls(**kwargs)
    except TypeError as error:  # a required field missing
        raise bad_input(f"{cls.name}: {error}") from None
