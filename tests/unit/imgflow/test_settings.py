"""Settings, signed links, cursors and routing: small rules clients depend on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from imgflow import signing
from imgflow.domain import QueueName
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.operations import Blur, Convert, Crop, Flip, FlipDirection, Resize, Rotate
from imgflow.imaging.routing import route
from imgflow.jobs import cursors
from imgflow.settings import DEFAULT_CONCURRENCY, Settings, ensure_local_secret, parse_concurrency


def test_concurrency_flag_overrides_only_the_named_queues() -> None:
    parsed = parse_concurrency("convert=3, force-resize=0")
    assert parsed[QueueName.CONVERT] == 3
    assert parsed[QueueName.FORCE_RESIZE] == 0
    assert parsed[QueueName.ROTATE] == DEFAULT_CONCURRENCY[QueueName.ROTATE]


@pytest.mark.parametrize("text", ["convert", "convert=x", "paint=2", "rotate=-1"])
def test_bad_concurrency_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        parse_concurrency(text)


def test_concurrency_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGFLOW_CONCURRENCY", "rotate=4")
    assert Settings().concurrency[QueueName.ROTATE] == 4


@pytest.mark.parametrize("secret", [None, "short"])
def test_missing_or_short_secret_is_refused(secret: str | None) -> None:
    with pytest.raises(ValueError, match="IMGFLOW_JWT_SECRET"):
        Settings(jwt_secret=secret).secret()


def test_serve_keeps_one_generated_secret(tmp_path: object) -> None:
    settings = Settings(data_dir=tmp_path)  # type: ignore[arg-type]
    first = ensure_local_secret(settings).secret()
    assert len(first) >= 32
    assert ensure_local_secret(settings).secret() == first


def test_signed_link_checks_key_expiry_and_signature() -> None:
    path = signing.signed_path("s" * 32, "results/a.png", ttl_seconds=60, now=1000)
    query = dict(part.split("=") for part in path.split("?")[1].split("&"))
    assert signing.verify("s" * 32, "results/a.png", query["expires"], query["signature"], now=1030)
    assert not signing.verify(
        "s" * 32, "results/a.png", query["expires"], query["signature"], now=1061
    )
    assert not signing.verify(
        "s" * 32, "results/b.png", query["expires"], query["signature"], now=1030
    )
    assert not signing.verify(
        "t" * 32, "results/a.png", query["expires"], query["signature"], now=1030
    )
    assert not signing.verify("s" * 32, "results/a.png", "later", query["signature"], now=1030)


def test_cursor_round_trip_and_garbage() -> None:
    stamp = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    assert cursors.decode(cursors.encode(stamp, "job-1")) == (stamp, "job-1")
    with pytest.raises(ImgflowError) as caught:
        cursors.decode("not a cursor")
    assert caught.value.code is ErrorCode.BAD_USER_INPUT


@pytest.mark.parametrize(
    ("pipeline", "queue"),
    [
        ([Rotate(90)], QueueName.ROTATE),
        ([Resize(100, None)], QueueName.RESIZE),
        ([Rotate(90), Resize(10, 10)], QueueName.RESIZE),
        ([Resize(10, 10), Convert(ImageFormat.WEBP)], QueueName.CONVERT),
        ([Rotate(90), Crop(0, 0, 5, 5), Flip(FlipDirection.VERTICAL)], QueueName.ROTATE),
        ([Blur(2.0)], QueueName.CONVERT),
    ],
)
def test_pipeline_goes_to_the_queue_of_its_last_queued_step(
    pipeline: list[object], queue: QueueName
) -> None:
    assert route(pipeline) is queue  # type: ignore[arg-type]
