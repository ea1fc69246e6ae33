"""GraphQL enums, straight from the domain enums."""

from __future__ import annotations

import strawberry

from imgflow import domain
from workers import formats, operations

JobStatus = strawberry.enum(domain.JobStatus, description="Where a job is in its life.")
QueueName = strawberry.enum(domain.QueueName, description="The queue a job was routed to.")
ImageFormat = strawberry.enum(formats.ImageFormat, description="An image encoding.")
FlipDirection = strawberry.enum(operations.FlipDirection, description="Which way to mirror.")
