"""Result and source links answer with the file's type, as an attachment named after
the job, never to be sniffed: from the API (local storage) or from S3 (moto)."""

from __future__ import annotations

from tests.client import Client
from tests.conftest import Server
from tests.imaging import quadrants
from tests.imaging import to_bytes as encode


async def test_result_download_headers(client: Client, server: Server) -> None:
    operations = [{"convert": {"format": "WEBP", "quality": 80}}]
    job = await client.submit(encode(quadrants(), "PNG"), operations)
    final = (await client.watch(job["id"]))[-1]
    assert final["status"] == "SUCCEEDED", final

    response = await client.http.get(final["result"]["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    assert response.headers["content-disposition"] == f'attachment; filename="{job["id"]}.webp"'
    assert response.content[8:12] == b"WEBP"
    if final["result"]["url"].startswith(server.base_url):  # served by the API itself
        assert response.headers["x-content-type-options"] == "nosniff"

    source = await client.http.get(final["source"]["url"])
    assert source.status_code == 200
    assert source.headers["content-type"] == "application/octet-stream"
    assert source.headers["content-disposition"].startswith("attachment;")
