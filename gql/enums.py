"""GraphQL enums: the domain enums themselves, registered with strawberry.

`strawberry.enum` returns the class it is given, so resolvers and types use the
domain classes directly and type checkers see real types.
"""

from __future__ import annotations

import strawberry

from imgflow.domain import JobStatus, QueueName
from imgflow.imaging.formats import ImageFormat, OutputFormat
from imgflow.imaging.operations import FlipDirection

strawberry.enum(JobStatus, description="Where a job is in its life.")
strawberry.enum(QueueName, description="The queue a job was routed to.")
strawberry.enum(ImageFormat, description="An image encoding. HEIF (HEIC) is read, never written.")
strawberry.enum(
    OutputFormat,
    description="A format `convert` can write, or AUTO: the smallest of WEBP, AVIF and JPEG "
    "(PNG instead of JPEG for alpha or flat colour).",
)
strawberry.enum(FlipDirection, description="Which way to mirror.")

__all__ = ["FlipDirection", "ImageFormat", "JobStatus", "OutputFormat", "QueueName"]
