"""Tenant isolation: user B tries every query, mutation and subscription on user A's
objects, reuses A's cursors, keys and upload forms, and tampers with signed links.

Whatever B tries, A's objects answer exactly like objects that do not exist, and
nothing of A's changes. A completeness test keeps this suite honest: every root field
that takes an id must have a case here.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from imgflow import signing
from tests.backends import SECRET
from tests.client import JOB_FIELDS, Client, GraphQLErrors
from tests.conftest import Server
from tests.imaging import quadrants, to_bytes

PNG = to_bytes(quadrants(64, 48), "PNG")
ROTATE = [{"rotate": {"degrees": 90}}]
REQUEST = """mutation($ops: [OperationInput!]!) {
  requestUpload(filename: "a.png", contentType: "image/png", operations: $ops) {
    job { id } url fields { name value } } }"""

ID_OPERATIONS: dict[str, tuple[str, str]] = {
    # root field -> (operation, what B must get)
    "job": (f"query($id: ID!) {{ job(id: $id) {{ {JOB_FIELDS} }} }}", "null"),
    "cancelJob": ("mutation($id: ID!) { cancelJob(id: $id) { id } }", "NOT_FOUND"),
    "retryJob": ("mutation($id: ID!) { retryJob(id: $id) { id } }", "NOT_FOUND"),
    "confirmUpload": ("mutation($id: ID!) { confirmUpload(jobId: $id) { id } }", "NOT_FOUND"),
    "anyJob": ("query($id: ID!) { anyJob(id: $id) { id } }", "FORBIDDEN"),
    "jobUpdated": ("subscription($id: ID!) { jobUpdated(id: $id) { id } }", "NOT_FOUND"),
    # Webhook ids, aimed at here with job ids; tests/e2e/test_webhooks.py aims them at
    # A's own webhooks and deliveries.
    "deleteWebhook": ("mutation($id: ID!) { deleteWebhook(id: $id) { id } }", "NOT_FOUND"),
    "redeliverWebhook": (
        "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id } }",
        "NOT_FOUND",
    ),
    "webhookDeliveries": (
        "query($id: ID!) { webhookDeliveries(webhookId: $id) { edges { cursor } } }",
        "NOT_FOUND",
    ),
}


@dataclass
class Tenant:
    """A's objects in each state B could aim at."""

    succeeded: dict[str, Any]
    failed: dict[str, Any]
    waiting: dict[str, Any]
    ticket: dict[str, Any]

    @property
    def job_ids(self) -> list[str]:
        return [self.succeeded["id"], self.failed["id"], self.waiting["id"]]


@pytest.fixture
async def tenant_a(client: Client) -> Tenant:
    done = await client.submit(PNG, ROTATE, idempotency_key="shared-key")
    broken = await client.submit(PNG[:60], ROTATE)
    finals = await asyncio.gather(client.watch(done["id"]), client.watch(broken["id"]))
    ticket = (await client.execute(REQUEST, {"ops": ROTATE}))["requestUpload"]
    return Tenant(finals[0][-1], finals[1][-1], ticket["job"], ticket)


async def snapshot(client: Client, tenant: Tenant) -> list[dict[str, Any] | None]:
    jobs = [await client.job(job_id) for job_id in tenant.job_ids]
    for job in jobs:  # links are signed afresh per read
        for part in ("source", "result"):
            if job and job[part]:
                job[part].pop("url")
    return jobs


async def answer(client: Client, operation: str, job_id: str) -> str:
    """What B gets: "null", or the error code."""
    try:
        if operation.startswith("subscription"):
            async with client.subscription(operation, {"id": job_id}) as events:
                async for _ in events:
                    return "an event"
            return "nothing"
        data = await client.execute(operation, {"id": job_id})
    except GraphQLErrors as errors:
        return ",".join(errors.codes)
    return "null" if next(iter(data.values())) is None else "data"


@pytest.mark.parametrize("field", sorted(ID_OPERATIONS))
async def test_b_cannot_reach_a_job_by_id(
    client: Client, other_client: Client, tenant_a: Tenant, field: str
) -> None:
    operation, expected = ID_OPERATIONS[field]
    before = await snapshot(client, tenant_a)
    for job_id in tenant_a.job_ids:
        assert await answer(other_client, operation, job_id) == expected, (field, job_id)
    # ...exactly what a job that does not exist answers
    assert await answer(other_client, operation, "00000000-0000-0000-0000-000000000000") == expected
    assert await snapshot(client, tenant_a) == before


async def test_every_root_field_taking_an_id_has_a_case(client: Client) -> None:
    roots = " ".join(
        f"{kind}: {kind}Type {{ fields {{ name args {{ type {{ name ofType {{ name }} }} }} }} }}"
        for kind in ("query", "mutation", "subscription")
    )
    query = f"{{ __schema {{ {roots} }} }}"
    schema = (await client.execute(query))["__schema"]
    taking_ids = {
        field["name"]
        for root in schema.values()
        for field in root["fields"]
        if any(
            "ID" in (arg["type"]["name"], (arg["type"]["ofType"] or {}).get("name"))
            for arg in field["args"]
        )
    }
    assert taking_ids == set(ID_OPERATIONS)


async def test_b_lists_and_streams_only_its_own(
    client: Client, other_client: Client, tenant_a: Tenant
) -> None:
    listing = (
        "query($after: String) { jobs(first: 1, after: $after) { edges { cursor node { id } } } }"
    )
    a_page = (await client.execute(listing, {"after": None}))["jobs"]["edges"]
    own = await other_client.submit(PNG, ROTATE)
    await other_client.watch(own["id"])
    # A's cursor marks a position, not a permission: B still sees only B's jobs.
    b_from_a_cursor = await other_client.execute(listing, {"after": a_page[0]["cursor"]})
    seen = [edge["node"]["id"] for edge in b_from_a_cursor["jobs"]["edges"]]
    assert set(seen) <= {own["id"]}

    events: list[str] = []

    async def stream() -> None:
        async with other_client.subscription("subscription { jobsUpdated { id } }") as updates:
            async for update in updates:
                events.append(update["jobsUpdated"]["id"])

    watching = asyncio.create_task(stream())
    try:
        await asyncio.sleep(0.5)
        await client.execute(ID_OPERATIONS["retryJob"][0], {"id": tenant_a.failed["id"]})
        await client.watch(tenant_a.failed["id"])  # A's job moves: B must not hear of it
        mine = await other_client.submit(PNG, ROTATE)  # positive control: B's own
        deadline = time.monotonic() + 20
        while mine["id"] not in events:
            assert time.monotonic() < deadline, events
            await asyncio.sleep(0.1)
    finally:
        watching.cancel()
    assert set(events) == {mine["id"]}


async def test_idempotency_keys_are_per_user(
    client: Client, other_client: Client, tenant_a: Tenant
) -> None:
    theirs = await other_client.submit(PNG, ROTATE, idempotency_key="shared-key")
    assert theirs["id"] != tenant_a.succeeded["id"]


def server_secret(server: Server) -> str:
    generated = server.workdir / "imgflow-data" / "jwt-secret"
    return generated.read_text().strip() if generated.exists() else SECRET


async def test_signed_links_cannot_be_bent(
    server: Server, client: Client, other_client: Client, tenant_a: Tenant
) -> None:
    a_url = tenant_a.succeeded["result"]["url"]
    own = await other_client.submit(PNG, ROTATE)
    b_url = (await other_client.watch(own["id"]))[-1]["result"]["url"]
    assert (await other_client.http.get(b_url)).status_code == 200
    if "X-Amz-Signature=" in b_url:
        # S3 presigned links: S3 checks them, and moto (the S3 here) does not, so only
        # their shape can be asserted: signed, expiring, bound to one key.
        assert "X-Amz-Expires=" in a_url
        assert tenant_a.succeeded["id"] in a_url.split("?")[0]
        return
    a_path, b_query = a_url.split("?")[0], b_url.split("?")[1]
    assert (await other_client.http.get(f"{a_path}?{b_query}")).status_code == 403
    tampered = b_url.replace("signature=", "signature=0")
    assert (await other_client.http.get(tampered)).status_code == 403
    unsigned = b_url.split("?")[0]
    assert (await other_client.http.get(unsigned)).status_code == 403
    # Correctly signed, but expired a second ago.
    key = "results/" + Path(a_path).name
    expires = int(time.time()) - 1
    signature = signing.sign(server_secret(server), key, expires)
    expired = f"{server.base_url}/files/{quote(key)}?expires={expires}&signature={signature}"
    assert (await other_client.http.get(expired)).status_code == 403
    fresh = f"{server.base_url}{signing.signed_path(server_secret(server), key, 60)}"
    assert (await other_client.http.get(fresh)).status_code == 200  # the control


async def test_b_cannot_upload_into_a_ticket_of_a(
    client: Client, other_client: Client, tenant_a: Tenant
) -> None:
    mine = (await other_client.execute(REQUEST, {"ops": ROTATE}))["requestUpload"]
    fields = {f["name"]: f["value"] for f in mine["fields"]}
    a_key = next(f["value"] for f in tenant_a.ticket["fields"] if f["name"] == "key")
    if not mine["url"].startswith(other_client.base_url):
        # An S3 presigned POST: S3 enforces its policy, moto (the S3 here) does not, so
        # what can be checked is that the signed policy pins B's own key.
        policy = json.loads(base64.b64decode(fields["policy"]))
        assert {"key": fields["key"]} in policy["conditions"]
        assert fields["key"] != a_key
        return
    response = await other_client.http.post(
        mine["url"], data=fields | {"key": a_key}, files={"file": ("x", PNG)}
    )
    assert response.status_code == 403
    with pytest.raises(GraphQLErrors) as caught:
        await client.execute(ID_OPERATIONS["confirmUpload"][0], {"id": tenant_a.waiting["id"]})
    assert caught.value.codes == ["UPLOAD_MISSING"]  # nothing landed in A's ticket
