"""The owner's levers on a job through the real API: cancelJob, retryJob, and
submitImage's idempotency key."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.api.test_jobs import job_ids
from tests.api.test_uploads import confirm, post_form, request_ticket
from tests.client import JOB_FIELDS, Client, GraphQLErrors
from tests.conftest import Server, new_user, start_server, stop_server
from tests.imaging import quadrants
from tests.imaging import to_bytes as encode

PNG = encode(quadrants(), "PNG")
ROTATE = [{"rotate": {"degrees": 90}}]
CANCEL = f"mutation($id: ID!) {{ cancelJob(id: $id) {{ {JOB_FIELDS} }} }}"
RETRY = f"mutation($id: ID!) {{ retryJob(id: $id) {{ {JOB_FIELDS} }} }}"
NO_WORKERS = "convert=0,rotate=0,resize=0,force_resize=0"


def truncated_jpeg() -> bytes:
    """Headers intact, so ingest accepts it; the worker's decode finds the damage."""
    whole = encode(quadrants(400, 300), "JPEG", quality=95)
    return whole[: len(whole) // 2]


async def cancel(client: Client, job_id: str) -> dict[str, Any]:
    return dict((await client.execute(CANCEL, {"id": job_id}))["cancelJob"])


async def retry(client: Client, job_id: str) -> dict[str, Any]:
    return dict((await client.execute(RETRY, {"id": job_id}))["retryJob"])


async def refused(mutation: str, client: Client, job_id: str) -> list[str]:
    with pytest.raises(GraphQLErrors) as caught:
        await client.execute(mutation, {"id": job_id})
    return caught.value.codes


async def finished(client: Client, job_id: str) -> dict[str, Any]:
    return (await asyncio.wait_for(client.watch(job_id), timeout=30))[-1]


async def test_cancelled_queued_job_stays_cancelled_across_a_restart(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    """With no workers the job stays QUEUED; cancelling it ends its subscription, and
    the workers of the next process take its message (RabbitMQ kept it) as a no-op."""
    # A namespace of its own: the session's server shares these services.
    backend = {**backend, "IMGFLOW_NAMESPACE": f"cancel-{uuid.uuid4().hex[:8]}"}
    idle = start_server(tmp_path, backend, "--concurrency", NO_WORKERS)
    try:
        client = await new_user(idle.base_url)
        job = await cancel_while_watching(client)
        again = await cancel(client, job["id"])
        assert (again["status"], again["finishedAt"]) == ("CANCELLED", job["finishedAt"])
    finally:
        stop_server(idle)
    assert "Traceback" not in idle.log(), idle.tracebacks()
    one_each = "convert=1,rotate=1,resize=1,force_resize=1"
    busy = start_server(tmp_path, backend, "--concurrency", one_each)
    try:
        client.base_url = busy.base_url
        # One consumer on ROTATE takes messages in order: once a later job on that
        # queue has succeeded, the cancelled job's message has been handled.
        later = await client.submit(PNG, ROTATE)
        assert (await finished(client, later["id"]))["status"] == "SUCCEEDED"
        after = await client.job(job["id"]) or {}
        assert (after["status"], after["attempts"], after["startedAt"]) == ("CANCELLED", 0, None)
        await client.close()
    finally:
        stop_server(busy)
    assert "Traceback" not in busy.log(), busy.tracebacks()


async def cancel_while_watching(client: Client) -> dict[str, Any]:
    job = await client.submit(PNG, ROTATE)
    query = f"subscription($id: ID!) {{ jobUpdated(id: $id) {{ {JOB_FIELDS} }} }}"
    async with client.subscription(query, {"id": job["id"]}) as events:
        first = await anext(events)
        assert first["jobUpdated"]["status"] == "QUEUED"
        cancelled = await cancel(client, job["id"])
        assert cancelled["status"] == "CANCELLED"
        assert cancelled["finishedAt"] is not None
        rest = await asyncio.wait_for(collect(events), timeout=10)
    # The subscription completes after the terminal state.
    assert [event["jobUpdated"]["status"] for event in rest] == ["CANCELLED"]
    return cancelled


async def collect(events: Any) -> list[dict[str, Any]]:
    return [event async for event in events]


async def test_cancel_awaiting_upload_then_confirm_returns_it_cancelled(client: Client) -> None:
    ticket = await request_ticket(client)
    job_id = ticket["job"]["id"]
    cancelled = await cancel(client, job_id)
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["finishedAt"] is not None
    assert (await cancel(client, job_id))["finishedAt"] == cancelled["finishedAt"]
    # The file may still arrive (the form was signed before): it changes nothing.
    await post_form(client, ticket, PNG)
    confirmed = await confirm(client, job_id)
    assert (confirmed["status"], confirmed["source"]) == ("CANCELLED", None)
    assert [event["status"] for event in await client.watch(job_id)] == ["CANCELLED"]


async def test_cancelling_a_finished_job_is_refused(client: Client) -> None:
    job = await client.submit(PNG, ROTATE)
    assert (await finished(client, job["id"]))["status"] == "SUCCEEDED"
    assert await refused(CANCEL, client, job["id"]) == ["JOB_NOT_CANCELLABLE"]
    assert (await client.job(job["id"]) or {})["status"] == "SUCCEEDED"


async def test_retried_job_runs_again_from_a_clean_slate(client: Client) -> None:
    job = await client.submit(truncated_jpeg(), ROTATE)
    failed = await finished(client, job["id"])
    assert (failed["status"], failed["error"]["code"], failed["attempts"]) == (
        "FAILED",
        "CORRUPT_IMAGE",
        1,
    )
    queued = await retry(client, job["id"])
    assert (queued["status"], queued["attempts"], queued["error"]) == ("QUEUED", 0, None)
    assert (queued["startedAt"], queued["finishedAt"]) == (None, None)
    # A permanent fault stays one: the retry fails the same way, counted afresh.
    again = await finished(client, job["id"])
    assert (again["status"], again["error"]["code"], again["attempts"]) == (
        "FAILED",
        "CORRUPT_IMAGE",
        1,
    )


async def test_only_failed_jobs_can_be_retried(client: Client) -> None:
    done = await client.submit(PNG, ROTATE)
    assert (await finished(client, done["id"]))["status"] == "SUCCEEDED"
    assert await refused(RETRY, client, done["id"]) == ["JOB_NOT_RETRYABLE"]
    waiting = (await request_ticket(client))["job"]["id"]
    assert await refused(RETRY, client, waiting) == ["JOB_NOT_RETRYABLE"]
    await cancel(client, waiting)
    assert await refused(RETRY, client, waiting) == ["JOB_NOT_RETRYABLE"]


async def test_upload_refused_at_acceptance_cannot_be_retried(client: Client) -> None:
    """Its file never passed the checks, so no worker could do anything with it."""
    ticket = await request_ticket(client)
    await post_form(client, ticket, b"%PDF-1.7 not an image")
    assert (await confirm(client, ticket["job"]["id"]))["status"] == "FAILED"
    assert await refused(RETRY, client, ticket["job"]["id"]) == ["JOB_NOT_RETRYABLE"]


async def test_another_users_job_cannot_be_cancelled_or_retried(
    client: Client, other_client: Client
) -> None:
    failed = await client.submit(truncated_jpeg(), ROTATE)
    assert (await finished(client, failed["id"]))["status"] == "FAILED"
    waiting = (await request_ticket(client))["job"]["id"]
    for job_id in (failed["id"], waiting, str(uuid.uuid4())):
        assert await refused(CANCEL, other_client, job_id) == ["NOT_FOUND"]
        assert await refused(RETRY, other_client, job_id) == ["NOT_FOUND"]
    assert (await client.job(failed["id"]) or {})["status"] == "FAILED"
    assert (await client.job(waiting) or {})["status"] == "AWAITING_UPLOAD"


async def test_same_key_returns_the_same_job(client: Client) -> None:
    key = f"order-{uuid.uuid4()}"
    first = await client.submit(PNG, ROTATE, idempotency_key=key)
    # The key alone decides: another file and pipeline under it still get that job.
    again = await client.submit(truncated_jpeg(), [{"grayscale": True}], idempotency_key=key)
    assert again["id"] == first["id"]
    assert again["queue"] == "ROTATE"
    assert await job_ids(client) == [first["id"]]


async def test_keys_belong_to_their_user(client: Client, other_client: Client) -> None:
    key = "é" * 200  # the longest key, any printable characters
    mine = await client.submit(PNG, ROTATE, idempotency_key=key)
    theirs = await other_client.submit(PNG, ROTATE, idempotency_key=key)
    assert mine["id"] != theirs["id"]
    assert await job_ids(client) == [mine["id"]]
    assert await job_ids(other_client) == [theirs["id"]]


async def test_concurrent_submissions_with_one_key_make_one_job(
    client: Client, server: Server, backend: dict[str, str]
) -> None:
    """Several requests can all miss the look-up; the unique constraint picks one, the
    others answer with it and remove the source they had stored."""
    before = stored_sources(server, backend)
    key = f"burst-{uuid.uuid4()}"
    burst = [client.submit(PNG, ROTATE, idempotency_key=key) for _ in range(4)]
    ids = {job["id"] for job in await asyncio.gather(*burst)}
    assert len(ids) == 1
    assert await job_ids(client) == list(ids)
    assert stored_sources(server, backend) - before == ids


@pytest.mark.parametrize("key", ["", "x" * 201, "line\nbreak", "tab\there", "nul\x00"])
async def test_bad_key_is_bad_input_and_leaves_no_job(client: Client, key: str) -> None:
    body = await client.upload_raw(PNG, ROTATE, idempotency_key=key)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert await job_ids(client) == []


def stored_sources(server: Server, backend: dict[str, str]) -> set[str]:
    """Ids of the jobs whose source is in storage, read from the backend itself."""
    url = backend.get("IMGFLOW_STORAGE_URL")
    if url is None:
        directory = server.workdir / "imgflow-data" / "files" / "sources"
        return {path.name for path in directory.iterdir()} if directory.exists() else set()
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    s3 = boto3.client(
        "s3",
        endpoint_url=backend["IMGFLOW_S3_ENDPOINT_URL"],
        region_name=backend["AWS_REGION"],
        aws_access_key_id=backend["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=backend["AWS_SECRET_ACCESS_KEY"],
    )
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/sources/")
    return {item["Key"].rsplit("/", 1)[1] for page in pages for item in page.get("Contents", [])}
