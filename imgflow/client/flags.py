"""Pipeline operations as command-line flags, from one table.

Each flag turns its value into one `OperationInput` (see schema.graphql) and appends
it to `args.operations` in the order the flags were given: a pipeline is ordered, so
`--resize 800 --rotate 90` and `--rotate 90 --resize 800` are different jobs. The flags
come from the operation registry: each operation's `flag` (imgflow.imaging.step.Flag)
names its form, else it takes `VALUE,...` in field order and/or `field=VALUE,...`.

Values are checked for form here (a bad one is a usage error, exit 2); the service
checks them against its own limits (BAD_USER_INPUT).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from imgflow.imaging.flagtext import fail, fields_text, positive
from imgflow.imaging.registry import STEPS
from imgflow.imaging.step import Step, graphql_name

Operation = dict[str, Any]
"""One `OperationInput`, as JSON."""


@dataclass(frozen=True)
class OperationFlag:
    option: str
    metavar: str | None  # None: a switch that takes no value
    help: str
    parse: Callable[[str], Operation]
    optional: bool = False  # every field has a default: the value may be left out


def _operation(cls: type[Step], text: str) -> Operation:
    member = graphql_name(cls.name)
    if not dataclasses.fields(cls):
        return {member: True}
    parse = cls.flag.parse if cls.flag and cls.flag.parse else partial(fields_text, cls)
    return {member: parse(text)}


def _flag(cls: type[Step]) -> OperationFlag:
    fields = [graphql_name(field.name) for field in dataclasses.fields(cls)]
    metavar = ",".join(fields).upper() if fields else None
    declared = cls.flag
    return OperationFlag(
        "--" + cls.name.replace("_", "-"),
        declared.metavar if declared else metavar,
        declared.help if declared else (cls.__doc__ or cls.label).strip(),
        partial(_operation, cls),
        optional=bool(fields) and not any(_required(field) for field in dataclasses.fields(cls)),
    )


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING


FLAGS = tuple(_flag(cls) for cls in STEPS)


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
            # All fields optional: `--trim` alone is the step with its defaults (argparse
            # runs a string const through `type` too).
            optional: dict[str, Any] = {"nargs": "?", "const": ""} if flag.optional else {}
            group.add_argument(
                flag.option,
                action=AppendOperation,
                dest="operations",
                type=flag.parse,
                metavar=flag.metavar,
                help=flag.help,
                **optional,
            )


VARIANT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
STEP_FLAGS = {flag.option.removeprefix("--"): flag for flag in FLAGS}


def variant(text: str) -> dict[str, Any]:
    """`NAME=STEP[;STEP...]`, each STEP an operation flag without its dashes and its
    value after a space: `thumb=resize 200x200;convert webp:80`, `mono=grayscale`,
    `same=` (the prefix's image as it is)."""
    name, equals, steps = text.partition("=")
    name = name.strip()
    if not equals or VARIANT_NAME.fullmatch(name) is None:
        raise fail(
            f"expected NAME=STEPS with NAME of a-z, 0-9, '_' and '-' (e.g. "
            f"'thumb=resize 200x200;convert webp'), got {text!r}"
        )
    return {"name": name, "operations": [step(item) for item in steps.split(";") if item.strip()]}


def step(text: str) -> Operation:
    option, _, value = text.strip().partition(" ")
    flag = STEP_FLAGS.get(option)
    if flag is None:
        raise fail(f"unknown step {option!r}: choose from {', '.join(STEP_FLAGS)}")
    if flag.metavar is not None and not value.strip():
        raise fail(f"step {option} needs {flag.metavar}")
    return flag.parse(value)


def convert(text: str) -> Operation:
    """`FORMAT[:QUALITY]`, as the --convert flag takes it."""
    return STEP_FLAGS["convert"].parse(text)


def widths(text: str) -> list[int]:
    """`320,640,1280`: the srcset's widths."""
    return [positive(part, "a width") for part in text.split(",")]


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "outputs (each continues from the image the operations above made)"
    )
    group.add_argument(
        "--variant",
        action="append",
        dest="variants",
        type=variant,
        metavar="NAME=STEPS",
        help="a named output, e.g. 'thumb=resize 200x200;convert webp:80' (repeatable)",
    )
    group.add_argument(
        "--srcset",
        type=widths,
        metavar="W,W,...",
        help="one output per width, named w<W>; widths over the image's are skipped",
    )
    group.add_argument(
        "--srcset-format",
        type=convert,
        metavar="FORMAT[:QUALITY]",
        help="encode the srcset widths as FORMAT (default: the image's own)",
    )


def srcset_of(args: argparse.Namespace) -> dict[str, Any] | None:
    """The `SrcsetInput` the flags ask for, if any."""
    if not args.srcset:
        return None
    encoding = (args.srcset_format or {}).get("convert", {})
    return {"widths": args.srcset, **encoding}
