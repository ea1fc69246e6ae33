"""Images by URL end to end on both backend mixes: `submitImageUrl` jobs whose worker
fetches from a real HTTP server on 127.0.0.1 through the SSRF guard, and what it
refuses or cannot fetch, each failing the job with its code."""

from __future__ import annotations

import pytest

from tests.client import Client, GraphQLErrors
from tests.e2e.outbound import (
    MAX_UPLOAD,
    finished,
    submit_url,
    unique_path,
)
from tests.imaging import open_bytes, quadrants, similarity, to_bytes
from tests.receiver import Receiver, listening_socket


async def test_images_by_url(user: Client, receiver: Receiver) -> None:
    source = quadrants(64, 48)
    path = unique_path("image")
    receiver.files[path] = to_bytes(source, "PNG")
    receiver.redirects[path + "-moved"] = path
    for url in (receiver.url + path, receiver.url + path + "-moved"):
        job = await submit_url(user, url)
        assert (job["status"], job["sourceUrl"], job["source"]) == ("QUEUED", url, None)
        done = await finished(user, job["id"])
        assert done["status"] == "SUCCEEDED", done
        assert (done["source"]["width"], done["source"]["height"]) == (64, 48)
        picture = open_bytes((await user.http.get(done["result"]["url"])).content)
        assert similarity(picture, source.rotate(90, expand=True)) > 0.99


async def test_images_by_url_that_cannot_be_fetched(user: Client, receiver: Receiver) -> None:
    big = unique_path("big")
    receiver.files[big] = b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_UPLOAD
    missing = unique_path("missing")
    with listening_socket() as listener:
        inside = f"http://127.0.0.1:{listener.port}/image.png"
        receiver.redirects[missing + "-to-inside"] = inside
        cases = {
            inside: "FETCH_REFUSED",
            receiver.url + missing + "-to-inside": "FETCH_REFUSED",
            receiver.url + big: "FETCH_TOO_LARGE",
            receiver.url + missing: "FETCH_FAILED",
        }
        for url, code in cases.items():
            done = await finished(user, (await submit_url(user, url))["id"])
            assert (done["status"], done["error"]["code"]) == ("FAILED", code), url
        assert listener.accepted() == 0
    not_image = unique_path("text")
    receiver.files[not_image] = b"hello, not an image"
    done = await finished(user, (await submit_url(user, receiver.url + not_image))["id"])
    assert done["error"]["code"] == "UNSUPPORTED_FORMAT"
    for url in ("file:///etc/passwd", "gopher://x/", "http://", "http://[::1/", "x" * 3000):
        with pytest.raises(GraphQLErrors) as bad:
            await submit_url(user, url)
        assert bad.value.codes == ["BAD_USER_INPUT"], url
