"""`--concurrency auto` and `IMGFLOW_QUEUE_SLOTS`: what the settings accept and refuse."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from imgflow.cli import build_parser, load_settings
from imgflow.concurrency import AUTO, SlotRange, parse_concurrency, parse_queue_slots
from imgflow.domain import QueueName
from imgflow.settings import Settings


def test_auto_is_a_concurrency() -> None:
    assert parse_concurrency(" Auto ") == AUTO


def test_auto_from_the_environment_for_serve_and_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGFLOW_CONCURRENCY", "auto")
    monkeypatch.setenv("IMGFLOW_QUEUE_SLOTS", "convert=1:3,rotate=0:2,force-resize=1")
    settings = Settings()
    assert settings.concurrency == AUTO
    assert settings.slot_total == settings.image_threads  # the default total
    assert settings.queue_slots[QueueName.CONVERT] == SlotRange(1, 3)
    assert settings.queue_slots[QueueName.ROTATE] == SlotRange(0, 2)
    assert settings.queue_slots[QueueName.FORCE_RESIZE] == SlotRange(1, None)
    assert settings.queue_slots[QueueName.RESIZE] == SlotRange(0, None)
    assert settings.queue_slots[QueueName.FORCE_RESIZE].cap(settings.slot_total) == 2


@pytest.mark.parametrize("text", ["convert", "convert=x", "paint=1:2", "rotate=-1:2", "rotate=3:2"])
def test_bad_queue_slots_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="queue slots"):
        parse_queue_slots(text)


def test_minimums_must_fit_in_the_total() -> None:
    with pytest.raises(ValidationError, match="IMGFLOW_QUEUE_SLOTS minimums add up to 3"):
        Settings(concurrency=AUTO, total_slots=2, queue_slots="convert=2,rotate=1")  # type: ignore[arg-type]
    # fixed counts do not use them
    Settings(total_slots=2, queue_slots="convert=2,rotate=1")  # type: ignore[arg-type]


def test_a_worker_for_some_queues_gives_the_others_no_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMGFLOW_QUEUE_SLOTS", "convert=1:3")
    args = build_parser().parse_args(["worker", "--concurrency", "auto", "--queues", "convert"])
    settings = load_settings(args)
    assert settings.concurrency == AUTO
    assert settings.queue_slots[QueueName.CONVERT] == SlotRange(1, 3)
    assert settings.queue_slots[QueueName.ROTATE].cap(4) == 0
