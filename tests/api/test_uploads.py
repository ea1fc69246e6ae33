"""Direct uploads: a signed form for the file, then `confirmUpload`. On S3 the form is
a presigned POST; in embedded mode the API serves the same form itself."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.client import JOB_FIELDS, Client, GraphQLErrors
from tests.conftest import new_user, start_server, stop_server
from tests.imaging import quadrants
from tests.imaging import to_bytes as encode

REQUEST = """mutation($ops: [OperationInput!]!) {
  requestUpload(filename: "cat photo.png", contentType: "image/png", operations: $ops) {
    job { id status queue source { format } } url fields { name value } expiresAt } }"""
CONFIRM = f"mutation($id: ID!) {{ confirmUpload(jobId: $id) {{ {JOB_FIELDS} }} }}"
PNG = encode(quadrants(64, 48), "PNG")


async def request_ticket(client: Client, ops: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    default = [{"rotate": {"degrees": 90}}]
    data = await client.execute(REQUEST, {"ops": default if ops is None else ops})
    return dict(data["requestUpload"])


async def post_form(client: Client, ticket: dict[str, Any], data: bytes, **changes: str) -> int:
    fields = {f["name"]: f["value"] for f in ticket["fields"]} | changes
    response = await client.http.post(ticket["url"], data=fields, files={"file": ("x", data)})
    return response.status_code


async def confirm(client: Client, job_id: str) -> dict[str, Any]:
    return dict((await client.execute(CONFIRM, {"id": job_id}))["confirmUpload"])


async def test_upload_confirm_and_process(client: Client) -> None:
    ticket = await request_ticket(client)
    assert ticket["job"]["status"] == "AWAITING_UPLOAD"
    assert ticket["job"]["source"] is None
    assert datetime.fromisoformat(ticket["expiresAt"]) > datetime.now(UTC)
    assert await post_form(client, ticket, PNG) in (200, 201, 204)
    job = await confirm(client, ticket["job"]["id"])
    assert job["status"] == "QUEUED"
    assert job["source"]["format"] == "PNG"
    final = (await client.watch(job["id"]))[-1]
    assert final["status"] == "SUCCEEDED"
    assert (final["result"]["width"], final["result"]["height"]) == (48, 64)
    again = await confirm(client, job["id"])
    assert again["status"] == "SUCCEEDED"
    assert again["attempts"] == 1


async def test_confirm_before_upload_says_so(client: Client) -> None:
    ticket = await request_ticket(client)
    with pytest.raises(GraphQLErrors) as caught:
        await confirm(client, ticket["job"]["id"])
    assert caught.value.codes == ["UPLOAD_MISSING"]
    assert (await client.job(ticket["job"]["id"]) or {})["status"] == "AWAITING_UPLOAD"


async def test_uploaded_file_failing_ingest_fails_its_job(client: Client) -> None:
    ticket = await request_ticket(client)
    await post_form(client, ticket, b"%PDF-1.7 not an image")
    job = await confirm(client, ticket["job"]["id"])
    assert job["status"] == "FAILED"
    assert job["error"]["code"] == "UNSUPPORTED_FORMAT"


async def test_another_users_upload_is_not_found(client: Client, other_client: Client) -> None:
    ticket = await request_ticket(client)
    await post_form(client, ticket, PNG)
    with pytest.raises(GraphQLErrors) as caught:
        await confirm(other_client, ticket["job"]["id"])
    assert caught.value.codes == ["NOT_FOUND"]


@pytest.mark.parametrize(
    ("ops", "code"), [([], "BAD_USER_INPUT"), ([{"resize": {}}], "BAD_USER_INPUT")]
)
async def test_bad_pipeline_leaves_no_job(client: Client, ops: list[Any], code: str) -> None:
    with pytest.raises(GraphQLErrors) as caught:
        await request_ticket(client, ops)
    assert caught.value.codes == [code]
    jobs = await client.execute("{ jobs { edges { cursor } } }")
    assert jobs["jobs"]["edges"] == []


async def test_the_form_allows_only_this_key_and_size(client: Client) -> None:
    ticket = await request_ticket(client)
    fields = {f["name"]: f["value"] for f in ticket["fields"]}
    if "policy" in fields:
        # S3 presigned POST. moto does not enforce policies; real S3 does: assert the
        # conditions it will enforce.
        policy = json.loads(base64.b64decode(fields["policy"]))
        conditions = policy["conditions"]
        assert ["content-length-range", 1, 50 * 1024 * 1024] in conditions
        assert {"key": fields["key"]} in conditions
        assert fields["key"].endswith("uploads/" + ticket["job"]["id"])
        expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        assert 3500 < (expiration - datetime.now(UTC)).total_seconds() <= 3600
        return
    # The embedded form: the API enforces it.
    assert await post_form(client, ticket, PNG, key="sources/someone-elses") == 403
    assert await post_form(client, ticket, PNG, max_bytes="999999999") == 403
    assert await post_form(client, ticket, PNG, expires="1") == 403
    assert await post_form(client, ticket, b"") == 400
    assert await post_form(client, ticket, PNG) == 204


async def test_upload_limit_holds_on_both_paths(tmp_path: Path) -> None:
    server = start_server(tmp_path, {"IMGFLOW_MAX_UPLOAD_BYTES": "1000"})
    try:
        client = await new_user(server.base_url)
        big = encode(quadrants(200, 200), "PNG", compress_level=0)
        assert len(big) > 1000
        ticket = await request_ticket(client)
        assert await post_form(client, ticket, big) == 413
        with pytest.raises(GraphQLErrors) as caught:
            await client.submit(big, [{"rotate": {"degrees": 90}}])
        assert caught.value.codes == ["PAYLOAD_TOO_LARGE"]
        await client.close()
    finally:
        stop_server(server)


async def test_housekeeping_accepts_unannounced_uploads_and_expires_missing_ones(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    settings = {
        "IMGFLOW_HOUSEKEEPING_INTERVAL_SECONDS": "0.5",
        "IMGFLOW_UPLOAD_SWEEP_AFTER_SECONDS": "0",
        "IMGFLOW_UPLOAD_TTL_SECONDS": "2",
        "IMGFLOW_NAMESPACE": f"sweep-{tmp_path.name[-8:]}",
    }
    server = start_server(tmp_path, {**backend, **settings})
    try:
        client = await new_user(server.base_url)
        arrived, missing = await request_ticket(client), await request_ticket(client)
        assert await post_form(client, arrived, PNG) in (200, 201, 204)
        # Neither is confirmed, and no S3 event is wired here.
        done = await asyncio.wait_for(client.watch(arrived["job"]["id"]), timeout=30)
        assert done[-1]["status"] == "SUCCEEDED"
        expired = (await asyncio.wait_for(client.watch(missing["job"]["id"]), timeout=30))[-1]
        assert expired["status"] == "FAILED"
        assert expired["error"]["code"] == "UPLOAD_EXPIRED"
        await client.close()
    finally:
        stop_server(server)
