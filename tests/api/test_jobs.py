"""Jobs through the real API: refusals, isolation between users, pagination, links."""

from __future__ import annotations

from typing import Any

import pytest

from tests.client import Client, GraphQLErrors
from tests.conftest import Server
from tests.imaging import quadrants
from tests.imaging import to_bytes as encode

PNG = encode(quadrants(), "PNG")
ROTATE = [{"rotate": {"degrees": 90}}]
JOB_IDS = "query($s: JobStatus) { jobs(first: 100, status: $s) { edges { node { id status } } } }"


async def job_ids(client: Client, status: str | None = None) -> list[str]:
    data = await client.execute(JOB_IDS, {"s": status})
    return [edge["node"]["id"] for edge in data["jobs"]["edges"]]


async def refusal(client: Client, data: bytes, operations: list[dict[str, Any]]) -> list[str]:
    body = await client.upload_raw(data, operations)
    assert body.get("data") is None or body["data"].get("submitImage") is None
    return [str(e["extensions"]["code"]) for e in body["errors"]]


@pytest.mark.parametrize(
    ("data", "operations", "code"),
    [
        (b"", ROTATE, "EMPTY_FILE"),
        (b"%PDF-1.4\n1 0 obj<<>>endobj\n", ROTATE, "UNSUPPORTED_FORMAT"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", ROTATE, "UNSUPPORTED_FORMAT"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, ROTATE, "CORRUPT_IMAGE"),
        (PNG, [], "BAD_USER_INPUT"),
        (PNG, [{"rotate": {"degrees": 90}, "flip": {"direction": "VERTICAL"}}], "BAD_USER_INPUT"),
        (PNG, [{}], "BAD_USER_INPUT"),
        (PNG, [{"resize": {}}], "BAD_USER_INPUT"),
        (PNG, [{"forceResize": {"width": 0, "height": 10}}], "BAD_USER_INPUT"),
        (PNG, [{"convert": {"format": "PDF"}}], "BAD_USER_INPUT"),
        (PNG, [{"convert": {"format": "PNG", "quality": 101}}], "BAD_USER_INPUT"),
        (PNG, [{"crop": {"left": 60, "top": 0, "width": 10, "height": 10}}], "INVALID_OPERATION"),
        (PNG, [{"forceResize": {"width": 60000, "height": 60000}}], "IMAGE_TOO_LARGE"),
        (PNG, [{"grayscale": False}], "BAD_USER_INPUT"),
        (PNG, [{"rotate": {"degrees": 90}}] * 21, "BAD_USER_INPUT"),
    ],
)
async def test_refused_submission_leaves_no_job(
    client: Client, data: bytes, operations: list[dict[str, Any]], code: str
) -> None:
    assert await refusal(client, data, operations) == [code]
    assert await job_ids(client) == []


async def test_submission_needs_a_token(client: Client) -> None:
    client.token = None
    assert await refusal(client, PNG, ROTATE) == ["UNAUTHENTICATED"]


async def test_damage_found_while_decoding_fails_the_job_with_a_code(client: Client) -> None:
    whole = encode(quadrants(400, 300), "JPEG", quality=95)
    job = await client.submit(whole[: len(whole) // 2], ROTATE)
    events = await client.watch(job["id"])
    assert events[-1]["status"] == "FAILED"
    assert events[-1]["error"]["code"] == "CORRUPT_IMAGE"
    assert events[-1]["result"] is None


async def test_another_users_job_is_not_found(client: Client, other_client: Client) -> None:
    job = await client.submit(PNG, ROTATE)
    assert await other_client.job(job["id"]) is None
    assert await job_ids(other_client) == []
    with pytest.raises(GraphQLErrors) as caught:
        await other_client.watch(job["id"])
    assert caught.value.codes == ["NOT_FOUND"]
    assert (await client.job(job["id"]) or {})["id"] == job["id"]


async def test_jobs_page_newest_first_with_cursors(client: Client) -> None:
    submitted = [(await client.submit(PNG, ROTATE))["id"] for _ in range(3)]
    query = """query($after: String) { jobs(first: 2, after: $after) {
        edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"""
    first = (await client.execute(query, {"after": None}))["jobs"]
    assert [e["node"]["id"] for e in first["edges"]] == submitted[::-1][:2]
    assert first["pageInfo"]["hasNextPage"] is True
    second = (await client.execute(query, {"after": first["pageInfo"]["endCursor"]}))["jobs"]
    assert [e["node"]["id"] for e in second["edges"]] == submitted[:1]
    assert second["pageInfo"]["hasNextPage"] is False


async def test_jobs_filter_by_status(client: Client) -> None:
    good = await client.submit(PNG, ROTATE)
    whole = encode(quadrants(400, 300), "JPEG", quality=95)
    bad = await client.submit(whole[: len(whole) // 2], ROTATE)
    await client.watch(good["id"])
    await client.watch(bad["id"])
    assert await job_ids(client, "SUCCEEDED") == [good["id"]]
    assert await job_ids(client, "FAILED") == [bad["id"]]


@pytest.mark.parametrize("cursor", ["!!!", "bm90IGEgY3Vyc29y", ""])
async def test_bad_cursor_is_bad_input(client: Client, cursor: str) -> None:
    with pytest.raises(GraphQLErrors) as caught:
        await client.execute(
            "query($a: String) { jobs(after: $a) { edges { cursor } } }", {"a": cursor or "x"}
        )
    assert caught.value.codes == ["BAD_USER_INPUT"]


async def test_result_links_are_signed(client: Client) -> None:
    job = await client.submit(PNG, ROTATE)
    url = (await client.watch(job["id"]))[-1]["result"]["url"]
    assert (await client.http.get(url)).status_code == 200
    if "X-Amz-Signature=" in url:
        # S3 presigned link. moto (the S3 here) checks no signature or expiry, so what
        # can be asserted is the link's shape; real S3 enforces both.
        assert "X-Amz-Expires=3600" in url
        return
    tampered = url.replace("signature=", "signature=0")
    assert (await client.http.get(tampered)).status_code == 403
    other_key = url.replace(job["id"], "00000000-0000-0000-0000-000000000000")
    assert (await client.http.get(other_key)).status_code == 403
    expired = url.split("?")[0] + "?expires=1&signature=" + url.split("signature=")[1]
    assert (await client.http.get(expired)).status_code == 403


@pytest.mark.parametrize("signed_in", [True, False])
async def test_a_subscription_over_http_is_refused_with_a_code(
    server: Server, client: Client, signed_in: bool
) -> None:
    """Only WebSockets carry subscriptions; over HTTP the answer says so (no internal
    error, and no traceback in the server log: the `server` fixture checks that)."""
    if not signed_in:
        client.token = None
    body = await client.raw("subscription { jobsUpdated { id } }")
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert "WebSocket" in body["errors"][0]["message"]


async def test_a_job_lists_its_steps_in_the_apis_own_words(client: Client) -> None:
    steps = [
        {"forceResize": {"width": 40, "height": 30}},
        {"sharpen": {"radius": 1.5}},
        {"convert": {"format": "WEBP", "quality": 80}},
    ]
    job = await client.submit(PNG, steps)
    described = (await client.job(job["id"]) or {})["operations"]
    assert described[0] == "forceResize width=40 height=30"
    assert described[1].startswith("sharpen radius=1.5")
    assert described[2] == "convert format=WEBP quality=80"
