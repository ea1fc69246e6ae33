"""Objects in an S3 bucket (AWS or any S3 API via `endpoint_url`), handed out as presigned URLs.

`s3://bucket/prefix`: every key is stored as `prefix/<key>`, so several deployments or
test runs can share a bucket. Credentials come from boto's usual chain (`AWS_*`
variables, config files, instance roles); the region from `AWS_REGION` or
`AWS_DEFAULT_REGION` (default `us-east-1`).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlparse

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError

from imgflow.backends.aws import region_from_env
from imgflow.backends.storage import ObjectMissing, UploadForm
from imgflow.backends.storage.downloads import download_for

# SigV4 presigned URLs cannot outlive seven days: refuse a TTL S3 would reject at download.
MAX_URL_TTL_SECONDS = 7 * 24 * 3600
# Error codes for an absent object: GET says NoSuchKey, HEAD has no body and says only 404.
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})

CLIENT_CONFIG = Config(
    # SigV4 is the only scheme every region and S3-compatible store accepts for presigning.
    signature_version="s3v4",
    # Fail fast on an unreachable endpoint (readiness checks depend on it); the read
    # timeout is per socket read, not per transfer, so large images are not cut off.
    connect_timeout=5,
    read_timeout=60,
    # "standard" retries throttling and transient 5xx with backoff, bounded.
    retries={"mode": "standard", "max_attempts": 4},
    # One client is shared by every job in the process: allow more than the default 10
    # concurrent requests, so queues with several jobs in flight do not wait on the pool.
    max_pool_connections=32,
)


class S3Storage:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        url_ttl_seconds: int,
        endpoint_url: str | None = None,
        public_endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("S3 storage needs a bucket: s3://bucket/prefix")
        if not 1 <= url_ttl_seconds <= MAX_URL_TTL_SECONDS:
            raise ValueError(f"url_ttl_seconds must be within 1..{MAX_URL_TTL_SECONDS}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url_ttl_seconds = url_ttl_seconds
        self.endpoint_url = endpoint_url
        # Links and forms are signed for the host their users will send them to (SigV4
        # signs the Host header), which inside a compose network is not the processes' own.
        self.public_endpoint_url = public_endpoint_url or endpoint_url
        self.region = region or region_from_env()
        self._session = aioboto3.Session(region_name=self.region)
        self._stack: AsyncExitStack | None = None
        # aioboto3 is untyped: the clients are Any, their answers are dicts.
        self._client: Any = None
        self._signer: Any = None  # signs links only (no requests); None = self._client

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        url_ttl_seconds: int,
        endpoint_url: str | None = None,
        public_endpoint_url: str | None = None,
    ) -> S3Storage:
        parsed = urlparse(url)
        return cls(
            parsed.netloc,
            parsed.path,
            url_ttl_seconds=url_ttl_seconds,
            endpoint_url=endpoint_url,
            public_endpoint_url=public_endpoint_url,
        )

    def object_key(self, key: str) -> str:
        """The S3 key behind a storage key (also what presigned uploads must target)."""
        return f"{self.prefix}/{key}" if self.prefix else key

    @property
    def client(self) -> Any:
        """The shared S3 client, for callers that need more than the protocol (e.g. presigned
        POST); only valid between `connect()` and `close()`."""
        if self._client is None:
            raise RuntimeError("S3Storage is not connected: call connect() first")
        return self._client

    async def connect(self) -> None:
        # One client for the life of the process: measured against moto here, a HEAD costs
        # ~4 ms on a reused client, ~34 ms with a client per call and ~146 ms with a session
        # and client per call (service model loading and a fresh connection pool each time).
        if self._client is not None:
            return
        stack = AsyncExitStack()
        try:
            self._client = await stack.enter_async_context(
                self._session.client("s3", endpoint_url=self.endpoint_url, config=CLIENT_CONFIG)
            )
            if self.public_endpoint_url != self.endpoint_url:
                self._signer = await stack.enter_async_context(
                    self._session.client(
                        "s3", endpoint_url=self.public_endpoint_url, config=CLIENT_CONFIG
                    )
                )
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    async def close(self) -> None:
        stack, self._stack, self._client, self._signer = self._stack, None, None, None
        if stack is not None:
            await stack.aclose()

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self.client.put_object(
            Bucket=self.bucket, Key=self.object_key(key), Body=data, ContentType=content_type
        )

    async def get(self, key: str) -> bytes:
        try:
            response = await self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as error:
            if _is_missing(error):
                raise ObjectMissing(key) from None
            raise
        async with response["Body"] as body:
            return bytes(await body.read())

    async def head(self, key: str) -> int | None:
        """The object's size in bytes, or None when it does not exist (upload confirmation)."""
        try:
            response = await self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as error:
            if _is_missing(error):
                return None
            raise
        return int(response["ContentLength"])

    async def delete(self, key: str) -> None:
        # S3 answers 204 for an absent key too, so deleting twice is not an error.
        await self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    async def url(self, key: str, base_url: str) -> str:
        # Clients download straight from S3, so the API's own base URL plays no part.
        # The signed URL asks S3 to answer with the file's true type, as an attachment
        # (see imgflow.backends.storage.downloads), whatever type the object was stored with.
        download = download_for(key)
        params = {
            "Bucket": self.bucket,
            "Key": self.object_key(key),
            "ResponseContentType": download.content_type,
            "ResponseContentDisposition": download.disposition,
        }
        url = await self._link_signer().generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.url_ttl_seconds
        )
        return str(url)

    async def upload_form(
        self, key: str, max_bytes: int, expires_in: int, base_url: str
    ) -> UploadForm:
        # The policy pins the key and the size; S3 refuses anything else. (moto does not
        # enforce policies: tests assert the conditions instead.)
        target = self.object_key(key)
        form = await self._link_signer().generate_presigned_post(
            Bucket=self.bucket,
            Key=target,
            Conditions=[["content-length-range", 1, max_bytes], {"key": target}],
            ExpiresIn=expires_in,
        )
        return UploadForm(
            url=str(form["url"]), fields={k: str(v) for k, v in form["fields"].items()}
        )

    def _link_signer(self) -> Any:
        return self._signer if self._signer is not None else self.client

    async def ping(self) -> None:
        # HeadBucket checks the endpoint, the credentials and the bucket in one request.
        await self.client.head_bucket(Bucket=self.bucket)


def _is_missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in _MISSING_CODES
