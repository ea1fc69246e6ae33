"""`--help` is where a newcomer looks first: every subcommand shows its defaults. A bad
setting stops a command with one line naming its variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def help_of(*command: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "imgflow.cli", *command, "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    return " ".join(done.stdout.split())  # argparse wraps lines where it likes


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("loadtest", ["--jobs JOBS jobs to run (default: 100)", "(default: 20)", "(default: 300)"]),
        ("serve", ["(default: 127.0.0.1)", "port to listen on (default: 8000)"]),
        ("worker", ["port to listen on (default: 8001)"]),
    ],
)
def test_help_shows_defaults(command: str, shown: list[str]) -> None:
    text = help_of(command)
    for expected in shown:
        assert expected in text
    assert "(default: None)" not in text


@pytest.mark.parametrize("command", ["serve", "migrate", "cron"])
def test_bad_settings_are_named_not_a_traceback(command: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGFLOW_")}
    env |= {"IMGFLOW_PASSWORD_PROFILE": "cheapest", "IMGFLOW_REGISTRATION": "maybe"}
    done = subprocess.run(
        [sys.executable, "-m", "imgflow.cli", command],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "IMGFLOW_REGISTRATION: Input should be 'open' or 'closed'",
        "IMGFLOW_PASSWORD_PROFILE: Input should be 'rfc9106-low-memory' or 'owasp-minimum'",
    ]
    assert not list(tmp_path.iterdir())  # nothing made: no data directory, no database
