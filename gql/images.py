"""How stored images and pipeline steps read in the API."""

from __future__ import annotations

import strawberry
from strawberry.utils.str_converters import to_camel_case

from gql.context import Info
from gql.enums import ImageFormat
from imgflow.imaging import formats


@strawberry.type(description="An image as stored: where to get it and what it is.")
class ImageInfo:
    key: strawberry.Private[str]
    format: ImageFormat
    width: int
    height: int
    bytes: int
    frames: int

    @strawberry.field(description="Absolute, signed, expiring URL to download the image.")
    async def url(self, info: Info) -> str:
        return await info.context.services.storage.url(self.key, info.context.base_url)


def stored_image(
    key: str | None, fmt: str | None, numbers: tuple[int | None, ...]
) -> ImageInfo | None:
    """The ImageInfo of a row's source or result columns; None until they are set."""
    if key is None or fmt is None:
        return None
    width, height, size, frames = (n or 0 for n in numbers)
    return ImageInfo(
        key=key,
        format=formats.ImageFormat(fmt),
        width=width,
        height=height,
        bytes=size,
        frames=frames or 1,
    )


def describe(step: dict[str, object]) -> str:
    """A stored step in the API's own words: `forceResize width=10 height=20`."""
    args = " ".join(
        f"{to_camel_case(k)}={v}" for k, v in step.items() if k != "op" and v is not None
    )
    return f"{to_camel_case(str(step.get('op')))} {args}".strip()
