"""A job's outputs and progress as the API shows them."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry

from gql.context import Info
from gql.images import ImageInfo, describe
from imgflow import models
from imgflow.imaging import outputs as specs
from imgflow.imaging.operations import pipeline_to_json


@strawberry.type(description="How far a job has got: outputs stored, of its total.")
class JobProgress:
    done: int
    total: int


@strawberry.type(description="One image a job makes: a variant, a srcset width, or `default`.")
class Output:
    name: str
    operations: list[str] = strawberry.field(
        description="Its whole pipeline, one line per step: the job's prefix, then its own."
    )
    srcset_width: int | None = strawberry.field(
        description="Set on a srcset output: the width descriptor it has in `Job.srcset`."
    )
    image: ImageInfo | None = strawberry.field(description="The image, once stored.")

    @classmethod
    def from_output(cls, row: models.Job, output: specs.Output) -> Output:
        steps = [*row.operations, *pipeline_to_json(output.operations)]
        return cls(
            name=output.name,
            operations=[describe(step) for step in steps],
            srcset_width=output.srcset_width,
            image=_image(output.image),
        )


def _image(stored: specs.StoredImage | None) -> ImageInfo | None:
    if stored is None:
        return None
    info = stored.info
    return ImageInfo(
        key=stored.key,
        format=info.format,
        width=info.width,
        height=info.height,
        bytes=info.bytes,
        frames=info.frames,
    )


async def srcset_value(info: Info, outputs: Sequence[specs.Output]) -> str | None:
    """`<url> 320w, <url> 640w`: the stored srcset outputs, narrowest first."""
    ladder = sorted(
        (o.srcset_width, o.image.key)
        for o in outputs
        if o.srcset_width is not None and o.image is not None
    )
    if not ladder:
        return None
    storage, base_url = info.context.services.storage, info.context.base_url
    return ", ".join([f"{await storage.url(key, base_url)} {width}w" for width, key in ladder])
