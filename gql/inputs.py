"""Typed job input: exactly one member per pipeline step (@oneOf), variants, srcset.

The operations are built from the operation registry: each operation's spec fields become
its input type (`<Name>Input`, its docstring the description, each field's `doc` the
field's), and `OperationInput` has one member per operation in rank order. An operation
without fields is a `Boolean` member that must be `true` (`grayscale: true`).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import TYPE_CHECKING, Any

import strawberry

import gql.enums  # noqa: F401  (registers the operations' enums before the inputs use them)
from gql.enums import OutputFormat
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.outputs import JobSpec, Srcset, Variant
from imgflow.imaging.registry import STEPS
from imgflow.imaging.step import Step, field_types, graphql_name

STEP_OF_MEMBER: dict[str, type[Step]] = {graphql_name(cls.name): cls for cls in STEPS}

DESCRIPTION = "One pipeline step: set exactly one field. `grayscale: true` drops colour."


def _input_type(cls: type[Step]) -> type:
    """The strawberry input for `cls`'s fields (GraphQL names are strawberry's camelCase)."""
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__annotations__": annotations}
    for field in dataclasses.fields(cls):
        annotations[field.name] = field_types(cls)[field.name]
        bounds = field.metadata.get("param")
        options: dict[str, Any] = {"description": bounds.doc if bounds and bounds.doc else None}
        if field.default is not dataclasses.MISSING:
            options["default"] = field.default
        namespace[field.name] = strawberry.field(**options)
    name = graphql_name(cls.name)
    created = type(f"{name[0].upper()}{name[1:]}Input", (), namespace)
    return strawberry.input(created, description=described(cls))


def described(cls: type) -> str | None:
    """A docstring as a one-paragraph description (GraphiQL shows it as written)."""
    return " ".join(inspect.cleandoc(cls.__doc__ or "").split()) or None


def _member_type(cls: type[Step]) -> Any:
    return bool if not dataclasses.fields(cls) else _input_type(cls)


def _to_operation(self: Any) -> Step:
    for member, cls in STEP_OF_MEMBER.items():
        value = getattr(self, member, strawberry.UNSET)
        if value is strawberry.UNSET or value is None:
            continue
        if not dataclasses.fields(cls):
            if value is not True:
                raise ImgflowError(ErrorCode.BAD_USER_INPUT, f"{member} must be true when given")
            return cls()
        return cls(**{field.name: getattr(value, field.name) for field in dataclasses.fields(cls)})
    raise ImgflowError(ErrorCode.BAD_USER_INPUT, "set exactly one operation in each step")


def _operation_input() -> type:
    members = {member: _member_type(cls) | None for member, cls in STEP_OF_MEMBER.items()}
    namespace: dict[str, Any] = {
        "__annotations__": members,
        **{member: strawberry.UNSET for member in members},
        "to_operation": _to_operation,
    }
    created = type("OperationInput", (), namespace)
    return strawberry.input(created, one_of=True, description=DESCRIPTION)


if TYPE_CHECKING:

    class OperationInput:
        def to_operation(self) -> Step: ...

else:
    OperationInput = _operation_input()


def to_operations(inputs: list[OperationInput]) -> list[Step]:
    return [item.to_operation() for item in inputs]


@strawberry.input(
    description="One named output: `operations` continue from the image the job's "
    "`operations` (the common prefix) made. `name` matches [a-z0-9][a-z0-9_-]{0,39} and is "
    "unique in the job."
)
class VariantInput:
    name: str
    operations: list[OperationInput] = strawberry.field(default_factory=list)


@strawberry.input(
    description="A responsive width set: one output per width, named `w<width>`, resized "
    "to that width from the prefix's image. Widths wider than that image are skipped "
    "(never upscaled) and listed in `Job.skippedWidths`. `format` (and its `quality`) "
    "converts every width; by default they keep the prefix's format."
)
class SrcsetInput:
    widths: list[int]
    format: OutputFormat | None = None
    quality: int | None = None


def to_spec(
    operations: list[OperationInput],
    variants: list[VariantInput] | None,
    srcset: SrcsetInput | None,
    analyze: bool = False,
) -> JobSpec:
    """A submission's arguments as the job spec the core checks and records."""
    ladder = None
    if srcset is not None:
        fmt = OutputFormat(srcset.format) if srcset.format is not None else None
        ladder = Srcset(tuple(srcset.widths), fmt, srcset.quality)
    return JobSpec(
        operations=tuple(to_operations(operations)),
        variants=tuple(
            Variant(variant.name, tuple(to_operations(variant.operations)))
            for variant in variants or ()
        ),
        srcset=ladder,
        analyze=analyze,
    )


def asked_spec(
    operations: list[OperationInput] | None,
    variants: list[VariantInput] | None,
    srcset: SrcsetInput | None,
    analyze: bool,
) -> JobSpec | None:
    """The spec a submission spells out itself; None when it gives none (it may name a
    preset instead)."""
    if not operations and not variants and srcset is None and not analyze:
        return None
    return to_spec(operations or [], variants, srcset, analyze)
