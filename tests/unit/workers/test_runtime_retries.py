"""Backoff, delay tiers and the fault-injection setting: the rules behind retries."""

from __future__ import annotations

import pytest

from imgflow.backends.broker.rabbitmq.topology import DELAY_TIERS_SECONDS, delay_tier
from imgflow.faults import Faults, parse
from imgflow.settings import Settings
from workers.runtime import backoff_seconds


@pytest.mark.parametrize(
    ("attempt", "bound"), [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (30, 60.0)]
)
def test_backoff_bound_doubles_up_to_the_cap(attempt: int, bound: float) -> None:
    assert backoff_seconds(attempt, 1.0, 60.0, draw=lambda: 1.0) == bound
    assert backoff_seconds(attempt, 1.0, 60.0, draw=lambda: 0.0) == bound / 2


def test_backoff_is_jittered_over_the_upper_half() -> None:
    delays = [backoff_seconds(4, 0.5, 60.0) for _ in range(500)]
    assert all(2.0 <= delay <= 4.0 for delay in delays)
    assert min(delays) < 2.5
    assert max(delays) > 3.5


def test_default_retries_outlast_a_short_outage() -> None:
    """The fixed half of each wait, after rounding to RabbitMQ's delay tiers: an outage
    shorter than this cannot fail a job, whatever the draw."""
    settings = Settings()
    waits = [
        delay_tier(
            backoff_seconds(
                n, settings.retry_base_seconds, settings.retry_max_seconds, draw=lambda: 0.0
            )
        )
        for n in range(1, settings.max_attempts)
    ]
    assert sum(waits) >= 12


@pytest.mark.parametrize(
    ("seconds", "tier"),
    [(0, 1), (0.1, 1), (2.0, 1), (2.5, 5), (10, 5), (13, 30), (55, 30), (65, 120), (900, 120)],
)
def test_a_delay_goes_to_the_nearest_tier_on_a_log_scale(seconds: float, tier: int) -> None:
    assert delay_tier(seconds) == tier
    assert tier in DELAY_TIERS_SECONDS


def test_faults_trip_the_configured_number_of_times_then_stop() -> None:
    faults = Faults("storage_get:2")
    for _ in range(2):
        with pytest.raises(ConnectionError, match="injected fault at storage_get"):
            faults.trip("storage_get")
    faults.trip("storage_get")


def test_faults_are_inert_unless_set() -> None:
    assert Settings().fault_injection == ""
    assert parse("") == {}
    Faults().trip("storage_get")


@pytest.mark.parametrize("spec", ["storage_get", "storage_gte:1", "storage_get:x", "s:-1"])
def test_a_bad_fault_setting_is_refused_at_start(spec: str) -> None:
    with pytest.raises(ValueError, match="fault injection"):
        Settings(fault_injection=spec)
