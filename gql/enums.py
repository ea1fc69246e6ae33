"""GraphQL enums: the domain enums themselves, registered with strawberry.

`strawberry.enum` returns the class it is given, so resolvers and types use the
domain classes directly and type checkers see real types. The operations' own enums
(`FlipDirection`, `Gravity`, ...) are registered from the registry, their docstrings
the descriptions; each member's docstring (the string under it in the source, which
Python does not keep) becomes its value's description in GraphiQL.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import textwrap
from enum import Enum

import strawberry

from imgflow.domain import JobStatus, QueueName
from imgflow.imaging.formats import ImageFormat, OutputFormat
from imgflow.imaging.operations import FlipDirection
from imgflow.imaging.registry import STEPS
from imgflow.imaging.step import enum_type, field_types


def member_docs(enum: type[Enum]) -> dict[str, str]:
    """The string literal right under each member in `enum`'s source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(enum)))
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for statement, following in itertools.pairwise(body):
        if (
            isinstance(statement, ast.Assign)
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.targets[0].id] = " ".join(following.value.value.split())
    return docs


def register(enum: type[Enum], description: str | None = None) -> None:
    if hasattr(enum, "__strawberry_definition__"):
        return
    strawberry.enum(enum, description=description or " ".join((enum.__doc__ or "").split()))
    docs = member_docs(enum)
    for value in enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = docs.get(value.name)


register(JobStatus, "Where a job is in its life.")
register(QueueName, "The queue a job was routed to.")
register(ImageFormat, "An image encoding. HEIF (HEIC) is read, never written.")
register(
    OutputFormat,
    "A format `convert` can write, or AUTO: the smallest of WEBP, AVIF and JPEG "
    "(PNG instead of JPEG for alpha or flat colour).",
)
for _step in STEPS:
    for _hint in field_types(_step).values():
        _enum = enum_type(_hint)
        if _enum is not None:
            register(_enum)

__all__ = ["FlipDirection", "ImageFormat", "JobStatus", "OutputFormat", "QueueName"]
