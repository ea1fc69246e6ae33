"""Tests that need a real service (PostgreSQL, RabbitMQ, Redis, ...) call `require_service`.

A missing service skips the test with a clear message, except under `CI=true`, where it
is a failure: CI runs on a machine that has them all, so a skip there would hide a
broken setup.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest


def require_service(name: str, check: Callable[[], object]) -> None:
    """Skip (or fail, under CI=true) unless `check()` succeeds.

    `check` is synchronous; it says the service is missing by raising or by returning
    False. Anything else counts as success.
    """
    try:
        missing = check() is False
        reason = "check returned False"
    except Exception as exc:
        missing, reason = True, f"{type(exc).__name__}: {exc}"
    if not missing:
        return
    message = f"{name} is not available ({reason}); start it to run this test"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} [CI=true: a missing service is a failure]")
    pytest.skip(message)


def tcp_check(url: str, default_port: int, timeout: float = 3.0) -> Callable[[], None]:
    """A check that opens (and closes) a TCP connection to the host and port of `url`."""
    parts = urlsplit(url)

    def check() -> None:
        address = (parts.hostname or "127.0.0.1", parts.port or default_port)
        socket.create_connection(address, timeout=timeout).close()

    return check
