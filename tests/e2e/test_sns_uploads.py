"""The replaced system's upload flow on moto: a presigned POST straight to S3, the
ObjectCreated event through SNS to `POST /webhooks/sns`, and the job runs, with no
`confirmUpload` from the client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.api.test_uploads import post_form, request_ticket
from tests.conftest import Server, new_user, start_server, stop_server
from tests.imaging import quadrants
from tests.imaging import to_bytes as encode


def aws(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def sns_server(backend: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    endpoint = backend["IMGFLOW_S3_ENDPOINT_URL"]
    s3, sns = aws("s3", endpoint), aws("sns", endpoint)
    bucket = f"uploads-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    topic = sns.create_topic(Name=f"uploads-{uuid.uuid4().hex[:8]}")["TopicArn"]
    env = {
        **backend,
        "IMGFLOW_STORAGE_URL": f"s3://{bucket}/run",
        "IMGFLOW_NAMESPACE": f"sns-{uuid.uuid4().hex[:8]}",
        "IMGFLOW_SNS_ALLOWED_TOPICS": topic,
        # moto signs with a throwaway certificate no verifier can trust (STACK-NOTES);
        # the real verifier is tested with our own key pair in tests/unit.
        "IMGFLOW_SNS_VERIFY_SIGNATURES": "false",
    }
    server = start_server(tmp_path, env)
    subscription = sns.subscribe(
        TopicArn=topic, Protocol="http", Endpoint=f"{server.base_url}/webhooks/sns"
    )
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "TopicConfigurations": [
                {
                    "TopicArn": topic,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {"FilterRules": [{"Name": "prefix", "Value": "run/uploads/"}]}
                    },
                }
            ]
        },
    )
    yield server
    sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    stop_server(server)


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_s3_event_through_sns_starts_the_job(sns_server: Server) -> None:
    client = await new_user(sns_server.base_url)
    ticket = await request_ticket(client)
    assert await post_form(client, ticket, encode(quadrants(64, 48), "PNG")) == 204
    events = await client.watch(ticket["job"]["id"])
    assert events[-1]["status"] == "SUCCEEDED", events
    assert (events[-1]["result"]["width"], events[-1]["result"]["height"]) == (48, 64)

    refused = await request_ticket(client)
    await post_form(client, refused, b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    final = (await client.watch(refused["job"]["id"]))[-1]
    assert final["status"] == "FAILED"
    assert final["error"]["code"] == "UNSUPPORTED_FORMAT"
    await client.close()
