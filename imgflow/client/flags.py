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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from imgflow.imaging.flagtext import fields_text
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
