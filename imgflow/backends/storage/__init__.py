"""Object storage for sources and results, chosen by URL (`file://` or `s3://`).

Keys: `sources/<job id>` for files sent through the API, `uploads/<job id>` for
direct uploads, `results/<job id>.<ext>` for a job's `default` output and
`results/<job id>.<name>.<ext>` for its other outputs (downloaded under that name).
An output's key is derived from the job and the output's name alone, so a re-run
overwrites instead of duplicating.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlparse

from imgflow.imaging.formats import ImageFormat


class ObjectMissing(Exception):
    """The key does not exist in storage."""


@dataclass(frozen=True)
class UploadForm:
    """Where and how a client uploads one file directly: POST `url` as multipart form
    data with `fields` first, then the file as `file`."""

    url: str
    fields: dict[str, str]


class Storage(Protocol):
    async def connect(self) -> None: ...
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def delete(self, key: str) -> None: ...
    async def url(self, key: str, base_url: str) -> str:
        """An absolute URL a client can GET the object from, valid for a limited time."""
        ...

    async def head(self, key: str) -> int | None:
        """The object's size in bytes, or None when it does not exist."""
        ...

    async def upload_form(
        self, key: str, max_bytes: int, expires_in: int, base_url: str
    ) -> UploadForm:
        """A signed form that lets a client upload at most `max_bytes` to `key`, and
        nowhere else, until `expires_in` seconds from now."""
        ...

    async def ping(self) -> None: ...
    async def close(self) -> None: ...


def source_key(job_id: str) -> str:
    return f"sources/{job_id}"


UPLOADS_PREFIX = "uploads/"


def upload_key(job_id: str) -> str:
    """Direct uploads land apart from API-stored sources, so an S3 event notification
    can be filtered on this prefix alone."""
    return f"{UPLOADS_PREFIX}{job_id}"


def result_key(job_id: str, fmt: ImageFormat) -> str:
    return f"results/{job_id}.{fmt.extension}"


def output_key(job_id: str, name: str, fmt: ImageFormat) -> str:
    """The `default` output keeps the key results had before outputs existed; the
    others sit beside it, one per name (names are plain: see imgflow.imaging.outputs).
    The default's key never has a second dot, so no name can reach it."""
    if name == "default":
        return result_key(job_id, fmt)
    return f"results/{job_id}.{name}.{fmt.extension}"


def open_storage(
    url: str,
    *,
    secret: str,
    url_ttl_seconds: int,
    endpoint_url: str | None = None,
    public_endpoint_url: str | None = None,
) -> Storage:
    """`file:///dir` (served by the API, HMAC-signed links) or `s3://bucket/prefix`
    (presigned links; `endpoint_url` for a non-AWS S3 API, `public_endpoint_url` where
    the links' users reach it)."""
    scheme = urlparse(url).scheme
    if scheme == "file":
        from imgflow.backends.storage.local import LocalStorage

        return LocalStorage.from_url(url, secret=secret, url_ttl_seconds=url_ttl_seconds)
    if scheme == "s3":
        from imgflow.backends.storage.s3 import S3Storage

        return S3Storage.from_url(
            url,
            url_ttl_seconds=url_ttl_seconds,
            endpoint_url=endpoint_url,
            public_endpoint_url=public_endpoint_url,
        )
    raise ValueError(f"unsupported storage URL {url!r}: use file:///dir or s3://bucket/prefix")
