"""Files in a local directory, served by the API through HMAC-signed URLs."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from imgflow import signing
from imgflow.backends.storage import ObjectMissing, UploadForm


class LocalStorage:
    def __init__(self, root: Path, *, secret: str, url_ttl_seconds: int) -> None:
        self.root = root.resolve()
        self.secret = secret
        self.url_ttl_seconds = url_ttl_seconds
        self.root.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_url(cls, url: str, *, secret: str, url_ttl_seconds: int) -> LocalStorage:
        path = Path(unquote(urlparse(url).path))
        return cls(path, secret=secret, url_ttl_seconds=url_ttl_seconds)

    def path_for(self, key: str) -> Path:
        """The file behind a key; refuses keys that escape the root."""
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ObjectMissing(key)
        return path

    async def connect(self) -> None:
        return None

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self.path_for(key), data)

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path_for(key).read_bytes)
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectMissing(key) from None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_for(key).unlink, missing_ok=True)

    async def url(self, key: str, base_url: str) -> str:
        path = signing.signed_path(self.secret, key, self.url_ttl_seconds)
        return base_url.rstrip("/") + path

    async def head(self, key: str) -> int | None:
        try:
            return (await asyncio.to_thread(self.path_for(key).stat)).st_size
        except (FileNotFoundError, ObjectMissing):
            return None

    async def upload_form(
        self, key: str, max_bytes: int, expires_in: int, base_url: str
    ) -> UploadForm:
        # The API itself plays S3's part: POST /uploads checks this HMAC policy.
        policy = signing.upload_policy(self.secret, key, max_bytes, expires_in)
        return UploadForm(url=base_url.rstrip("/") + "/uploads", fields=policy)

    async def ping(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise OSError(f"storage directory {self.root} is not writable")

    async def close(self) -> None:
        return None

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        # Write then rename, so a reader never sees half a file.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
