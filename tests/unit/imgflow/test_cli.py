"""`--help` is where a newcomer looks first: every subcommand shows its defaults."""

from __future__ import annotations

import subprocess
import sys

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
