"""The files a job produced, where they go on disk, and downloading them.

A file is named `<input stem>.<job id's first 8 characters>.<ext>` (`photo.6f1c2a9b.webp`)
next to the input or in `--out DIR`: the job id makes it unique per job and leads back
to the job in `imgflow jobs`. A name already taken (the same job fetched again with
its idempotency key) gets `-2`, `-3`, ... before the extension: an existing file is
never overwritten.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from imgflow.client.api import Unreachable, reason
from imgflow.client.service import ImageInfo, Job
from imgflow.imaging.formats import EXTENSIONS, ImageFormat

ID_PREFIX = 8
DEFAULT = "default"
"""The name of a job's one output when it asks for no variants or srcset."""
MAX_SUFFIX = 1000


class SaveError(Exception):
    """A result could not be written to disk (no free name, disk full, permissions)."""


@dataclass(frozen=True)
class Output:
    """One image a job produced. The `default` output (a job with no variants or
    srcset) has no label; every other output's name joins its file name
    (`photo.6f1c2a9b.thumb.webp`, `photo.6f1c2a9b.w640.jpg`)."""

    image: ImageInfo
    label: str | None = None

    @property
    def extension(self) -> str:
        try:
            return EXTENSIONS[ImageFormat(self.image.format)]
        except ValueError:  # a format newer than this client
            return self.image.format.lower()


def outputs_of(job: Job) -> list[Output]:
    """Every stored output; a service from before outputs existed sends only `result`."""
    if not job.outputs:
        return [Output(job.result)] if job.result else []
    return [
        Output(produced.image, None if produced.name == DEFAULT else produced.name)
        for produced in job.outputs
        if produced.image is not None
    ]


def short_id(job_id: str) -> str:
    return job_id[:ID_PREFIX]


def file_name(source: Path, job_id: str, output: Output, suffix: str = "") -> str:
    label = f".{output.label}" if output.label else ""
    return f"{source.stem}.{short_id(job_id)}{label}{suffix}.{output.extension}"


def reserve(directory: Path, source: Path, job_id: str, output: Output) -> tuple[Path, BinaryIO]:
    """The first free name, opened for writing: creating it exclusively is what makes
    the name ours, even against another process choosing at the same moment."""
    for number in range(1, MAX_SUFFIX):
        path = directory / file_name(source, job_id, output, f"-{number}" if number > 1 else "")
        with contextlib.suppress(FileExistsError):
            return path, path.open("xb")
    raise FileExistsError(f"no free name for {file_name(source, job_id, output)} in {directory}")


async def save(
    http: httpx.AsyncClient, output: Output, directory: Path, source: Path, job_id: str
) -> Path:
    """Download the output next to `source` (or into `directory`); the partial file is
    removed if anything goes wrong."""
    if output.image.url is None:
        raise ValueError("the output has no download link")
    try:
        path, file = reserve(directory, source, job_id, output)
    except OSError as error:
        raise SaveError(f"cannot save the result in {directory}: {error}") from None
    try:
        with file:
            received = await download(http, output.image.url, file)
        if received != output.image.bytes:
            raise Unreachable(f"download of {path.name} stopped at {received} bytes")
    except OSError as error:
        path.unlink(missing_ok=True)
        raise SaveError(f"cannot save {path}: {error.strerror or error}") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


async def download(http: httpx.AsyncClient, url: str, file: BinaryIO) -> int:
    # No Authorization header: the link is signed, and a presigned S3 URL would
    # refuse a request carrying a second kind of authentication.
    try:
        async with http.stream("GET", url) as response:
            if response.status_code != 200:
                raise Unreachable(f"download refused: HTTP {response.status_code} from {url}")
            received = 0
            async for chunk in response.aiter_bytes():
                file.write(chunk)
                received += len(chunk)
            return received
    except httpx.HTTPError as error:
        raise Unreachable(f"download failed: {reason(error)}") from None
