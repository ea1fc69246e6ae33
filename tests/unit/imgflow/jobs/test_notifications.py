"""Completion notifications without any service: the message, the backoff, the
configuration checks, and that a broken Redis never fails the job path."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from imgflow.backends.notifier import SnsNotifier, completion_message, sns_notifier
from imgflow.domain import JobStatus, QueueName
from imgflow.imaging.analysis import Analysis, ExifEntry, analysis_to_json
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.info import ImageInfo
from imgflow.imaging.outputs import DEFAULT_OUTPUT, Output, StoredImage, outputs_to_json
from imgflow.jobs.notifications import BACKOFF_CAP_SECONDS, backoff_seconds
from imgflow.models import Job
from imgflow.services import open_services
from imgflow.settings import Settings

FINISHED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TOPIC = "arn:aws:sns:us-east-1:123456789012:done"


def job(status: JobStatus, **fields: object) -> Job:
    return Job(
        id="job-1",
        owner_id="user-1",
        status=status,
        queue=QueueName.CONVERT,
        operations=[],
        source_key="sources/job-1",
        attempts=2,
        finished_at=FINISHED,
        **fields,  # type: ignore[arg-type]
    )


def test_success_message_carries_the_result_and_filterable_attributes() -> None:
    succeeded = job(
        JobStatus.SUCCEEDED,
        result_key="results/job-1.webp",
        result_format="WEBP",
        result_width=64,
        result_height=48,
        result_bytes=1234,
        result_frames=1,
    )
    body, attributes = completion_message(succeeded)
    assert json.loads(body) == {
        "jobId": "job-1",
        "status": "SUCCEEDED",
        "ownerId": "user-1",
        "queue": "CONVERT",
        "attempts": 2,
        "finishedAt": "2026-01-02T03:04:05+00:00",
        "result": {
            "format": "WEBP",
            "width": 64,
            "height": 48,
            "bytes": 1234,
            "frames": 1,
            "key": "results/job-1.webp",
        },
        "error": None,
    }
    assert attributes == {
        "status": {"DataType": "String", "StringValue": "SUCCEEDED"},
        "queue": {"DataType": "String", "StringValue": "CONVERT"},
    }


def test_an_analysed_job_says_what_its_source_is_like() -> None:
    found = Analysis(
        "LKO2?U%2Tw=w]~RBVZRi};RPxuwH",
        ("#dc1e1e",),
        "db00000000000000",
        False,
        False,
        1,
        (ExifEntry("Make", "Google"),),
    )
    analysed = job(JobStatus.SUCCEEDED, analyze=True, analysis=analysis_to_json(found))
    message = json.loads(completion_message(analysed)[0])
    assert message["analysis"] == {
        "blurhash": "LKO2?U%2Tw=w]~RBVZRi};RPxuwH",
        "dominantColors": ["#dc1e1e"],
        "phash": "db00000000000000",
        "hasAlpha": False,
        "animated": False,
        "frames": 1,
        "exif": [{"tag": "Make", "value": "Google"}],
    }
    assert "analysis" not in json.loads(completion_message(job(JobStatus.SUCCEEDED))[0])


def test_failure_message_carries_the_error() -> None:
    failed = job(JobStatus.FAILED, error_code="CORRUPT_IMAGE", error_message="truncated")
    body, attributes = completion_message(failed)
    message = json.loads(body)
    assert message["result"] is None
    assert message["error"] == {"code": "CORRUPT_IMAGE", "message": "truncated"}
    assert attributes["status"]["StringValue"] == "FAILED"


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    rng = random.Random(7)
    for job_try, ceiling in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (20, 60), (500, 60)]:
        for _ in range(20):
            assert ceiling / 2 <= backoff_seconds(job_try, rng) <= ceiling
    assert backoff_seconds(30, rng) <= BACKOFF_CAP_SECONDS


def test_off_without_a_topic() -> None:
    assert (
        sns_notifier(Settings(redis_url="redis://127.0.0.1:1/0", sns_notify_topic_arn=None)) is None
    )
    assert sns_notifier(Settings(sns_notify_topic_arn="")) is None


async def test_a_topic_without_redis_is_refused_at_startup() -> None:
    settings = Settings(sns_notify_topic_arn=TOPIC, redis_url=None)
    with pytest.raises(ValueError, match="IMGFLOW_REDIS_URL"):
        sns_notifier(settings)
    with pytest.raises(ValueError, match="IMGFLOW_SNS_NOTIFY_TOPIC_ARN"):
        async with open_services(settings):
            pass


async def test_enqueue_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    # Never connected: the enqueue fails, and the job path must carry on regardless.
    notifier = SnsNotifier(redis_url="redis://127.0.0.1:1/0", namespace="t", topic_arn=TOPIC)
    await notifier.job_finished(job(JobStatus.SUCCEEDED))
    assert "could not queue the completion notification" in caplog.text


def test_a_job_with_outputs_announces_each_stored_one() -> None:
    info = ImageInfo(ImageFormat.WEBP, 320, 240, 1, 999)
    outputs = [
        Output("thumb", image=StoredImage("results/job-2.thumb.webp", info)),
        Output("w640", srcset_width=640),  # not stored: not announced
    ]
    job = Job(
        id="job-2",
        owner_id="user-1",
        status=JobStatus.SUCCEEDED,
        queue=QueueName.RESIZE,
        operations=[],
        outputs=outputs_to_json(outputs),
        source_key="sources/job-2",
    )
    message = json.loads(completion_message(job)[0])
    assert message["outputs"] == [
        {
            "name": "thumb",
            "format": "WEBP",
            "width": 320,
            "height": 240,
            "bytes": 999,
            "frames": 1,
            "key": "results/job-2.thumb.webp",
        }
    ]
    default = job.model_copy(update={"outputs": outputs_to_json([Output(DEFAULT_OUTPUT)])})
    assert "outputs" not in json.loads(completion_message(default)[0])
