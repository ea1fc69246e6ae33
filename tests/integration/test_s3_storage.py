"""S3Storage against moto in server mode: real HTTP on a local socket, one bucket per test.

moto checks neither signatures nor expiry, so the expiry is asserted on the URL itself.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import aioboto3
import httpx
import pytest
from botocore.exceptions import ClientError

from imgflow.backends.storage import ObjectMissing, open_storage, result_key, source_key
from imgflow.backends.storage.s3 import MAX_URL_TTL_SECONDS, S3Storage
from imgflow.imaging.formats import ImageFormat
from tests.integration.moto import MotoServer, moto_server

__all__ = ["moto_server"]  # the fixture, imported so pytest finds it here

TTL = 900
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def unique_name(kind: str) -> str:
    return f"imgflow-{kind}-{uuid.uuid4().hex[:16]}"


@pytest.fixture
async def s3(moto_server: MotoServer) -> AsyncIterator[Any]:
    """A plain aioboto3 client, to arrange and inspect the bucket behind the storage's back."""
    async with aioboto3.Session().client("s3", endpoint_url=moto_server.endpoint_url) as client:
        yield client


@pytest.fixture
async def bucket(s3: Any) -> str:
    name = unique_name("test")
    await s3.create_bucket(Bucket=name)
    return name


async def connected(url: str, moto_server: MotoServer, ttl: int = TTL) -> S3Storage:
    storage = open_storage(
        url, secret="x" * 32, url_ttl_seconds=ttl, endpoint_url=moto_server.endpoint_url
    )
    assert isinstance(storage, S3Storage)
    await storage.connect()
    return storage


@pytest.fixture
async def storage(moto_server: MotoServer, bucket: str) -> AsyncIterator[S3Storage]:
    storage = await connected(f"s3://{bucket}/{unique_name('prefix')}", moto_server)
    yield storage
    await storage.close()


async def test_put_get_round_trip_keeps_content_type(storage: S3Storage, s3: Any) -> None:
    await storage.put("sources/job1", PNG, "image/png")

    assert await storage.get("sources/job1") == PNG
    assert await storage.head("sources/job1") == len(PNG)
    head = await s3.head_object(Bucket=storage.bucket, Key=storage.object_key("sources/job1"))
    assert head["ContentType"] == "image/png"


async def test_missing_key(storage: S3Storage) -> None:
    with pytest.raises(ObjectMissing):
        await storage.get("sources/nothing-here")
    assert await storage.head("sources/nothing-here") is None


async def test_delete_is_idempotent(storage: S3Storage) -> None:
    await storage.put("results/job1.png", PNG, "image/png")

    await storage.delete("results/job1.png")
    await storage.delete("results/job1.png")
    await storage.delete("results/never-existed.png")

    with pytest.raises(ObjectMissing):
        await storage.get("results/job1.png")


async def test_presigned_url_downloads_the_object(storage: S3Storage) -> None:
    await storage.put("results/job2.webp", b"RIFF....WEBP", "image/webp")

    url = await storage.url("results/job2.webp", "http://api.invalid")

    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert response.status_code == 200
    assert response.content == b"RIFF....WEBP"
    assert response.headers["content-type"] == "image/webp"


async def test_presigned_url_is_sigv4_and_expires_after_the_ttl(
    moto_server: MotoServer, bucket: str
) -> None:
    storage = await connected(f"s3://{bucket}/p", moto_server, ttl=1234)
    try:
        url = await storage.url("results/job3.png", "http://api.invalid")
    finally:
        await storage.close()

    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    assert url.startswith(moto_server.endpoint_url)  # the API's base URL plays no part
    assert parsed.path == f"/{bucket}/p/results/job3.png"
    assert query["X-Amz-Expires"] == ["1234"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]


async def test_keys_land_under_the_prefix(storage: S3Storage, s3: Any) -> None:
    fmt = next(iter(ImageFormat))
    await storage.put(source_key("job4"), PNG, "image/png")
    await storage.put(result_key("job4", fmt), PNG, "image/png")

    listed = await s3.list_objects_v2(Bucket=storage.bucket)
    keys = {item["Key"] for item in listed["Contents"]}
    assert keys == {
        f"{storage.prefix}/sources/job4",
        f"{storage.prefix}/results/job4.{fmt.extension}",
    }


@pytest.mark.parametrize(
    ("suffix", "stored"),
    [("", "sources/job5"), ("/", "sources/job5"), ("/a/b/", "a/b/sources/job5")],
)
async def test_prefix_without_stray_slashes(
    moto_server: MotoServer, bucket: str, s3: Any, suffix: str, stored: str
) -> None:
    storage = await connected(f"s3://{bucket}{suffix}", moto_server)
    try:
        await storage.put("sources/job5", PNG, "image/png")
    finally:
        await storage.close()

    listed = await s3.list_objects_v2(Bucket=bucket)
    assert [item["Key"] for item in listed["Contents"]] == [stored]


async def test_ping(storage: S3Storage, moto_server: MotoServer) -> None:
    await storage.ping()

    missing = await connected(f"s3://{unique_name('absent')}/p", moto_server)
    try:
        with pytest.raises(ClientError):
            await missing.ping()
    finally:
        await missing.close()


async def test_one_client_for_all_calls(
    moto_server: MotoServer, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = S3Storage(bucket, "p", url_ttl_seconds=TTL, endpoint_url=moto_server.endpoint_url)
    opened: list[object] = []
    open_client = storage._session.client

    def counting_client(*args: Any, **kwargs: Any) -> Any:
        opened.append(args)
        return open_client(*args, **kwargs)

    monkeypatch.setattr(storage._session, "client", counting_client)

    await storage.connect()
    await storage.connect()  # a second connect keeps the client it has
    client = storage.client
    await storage.put("sources/job6", PNG, "image/png")
    await storage.get("sources/job6")
    await storage.head("sources/job6")
    await storage.url("sources/job6", "http://api.invalid")
    await storage.delete("sources/job6")
    await storage.ping()
    assert storage.client is client
    assert len(opened) == 1

    await storage.close()
    await storage.close()
    with pytest.raises(RuntimeError, match="not connected"):
        await storage.get("sources/job6")


def test_from_url_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="bucket"):
        S3Storage.from_url("s3:///prefix", url_ttl_seconds=TTL)
    with pytest.raises(ValueError, match="url_ttl_seconds"):
        S3Storage.from_url("s3://b/p", url_ttl_seconds=MAX_URL_TTL_SECONDS + 1)


async def test_links_and_forms_are_signed_for_the_public_endpoint(
    moto_server: MotoServer, bucket: str
) -> None:
    # Inside compose the processes reach S3 as http://minio:9000, a name no browser
    # resolves; links must name the endpoint users reach, here moto as "localhost".
    public = moto_server.endpoint_url.replace("127.0.0.1", "localhost")
    storage = open_storage(
        f"s3://{bucket}/p",
        secret="x" * 32,
        url_ttl_seconds=TTL,
        endpoint_url=moto_server.endpoint_url,
        public_endpoint_url=public,
    )
    assert isinstance(storage, S3Storage)
    await storage.connect()
    try:
        await storage.put("results/job7.png", PNG, "image/png")  # through the private endpoint
        link = await storage.url("results/job7.png", "http://api.invalid")
        form = await storage.upload_form("uploads/job8", 1024, 60, "http://api.invalid")
    finally:
        await storage.close()

    assert link.startswith(f"{public}/{bucket}/p/results/job7.png?")
    assert form.url.startswith(public)
    async with httpx.AsyncClient() as http:
        downloaded = await http.get(link)
        assert downloaded.content == PNG
        uploaded = await http.post(form.url, data=form.fields, files={"file": PNG[:100]})
        assert uploaded.status_code in (200, 204), uploaded.text
