"""GraphQL enums: the domain enums themselves, registered with strawberry.

`strawberry.enum` returns the class it is given, so resolvers and types use the
domain classes directly and type checkers see real types. The operations' own enums
(`FlipDirection`, `Gravity`, ...) are registered from the registry, their docstrings
the descriptions.
"""

from __future__ import annotations

import strawberry

from imgflow.domain import JobStatus, QueueName
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.operations import FlipDirection
from imgflow.imaging.registry import STEPS
from imgflow.imaging.step import enum_type, field_types

strawberry.enum(JobStatus, description="Where a job is in its life.")
strawberry.enum(QueueName, description="The queue a job was routed to.")
strawberry.enum(ImageFormat, description="An image encoding.")

for _step in STEPS:
    for _hint in field_types(_step).values():
        _enum = enum_type(_hint)
        if _enum is not None and not hasattr(_enum, "__strawberry_definition__"):
            strawberry.enum(_enum, description=" ".join((_enum.__doc__ or "").split()) or None)

__all__ = ["FlipDirection", "ImageFormat", "JobStatus", "QueueName"]
