"""`imgflow loadtest`'s arguments and entry point (imgflow.cli registers them)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import httpx

import loadtest
from loadtest.images import choose_images
from loadtest.report import render_table
from loadtest.results import JobFailure
from loadtest.runner import load_test
from loadtest.terminal import output


def run(args: argparse.Namespace) -> int:
    if (args.email is None) != (args.password is None):
        output("loadtest: --email and --password go together", stream=sys.stderr)
        return 2
    try:
        images = choose_images(args)
        report = asyncio.run(load_test(args, images))
    except (OSError, ValueError, httpx.HTTPError, JobFailure) as exc:
        output(f"loadtest: cannot start: {exc}", stream=sys.stderr)
        return 1
    output(report.to_json() if args.json else render_table(report))
    return 0 if report.overall.succeeded == report.overall.jobs else 1


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def widths(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths like 320,640, got {text!r}") from None
    if any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"widths must be at least 1, got {text!r}")
    return values


def input_kinds(text: str) -> list[str]:
    kinds = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not kinds or any(kind not in ("jpeg", "png") for kind in kinds):
        raise argparse.ArgumentTypeError("a comma-separated list of jpeg and png")
    return list(dict.fromkeys(kinds))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="API base URL")
    parser.add_argument("--jobs", type=positive_int, default=100, help="jobs to run")
    parser.add_argument(
        "--concurrency", type=positive_int, default=20, help="client-side bound on jobs in flight"
    )
    parser.add_argument(
        "--jpeg", type=Path, help="JPEG input (default: synthetic 1224x817 photo-like, q90)"
    )
    parser.add_argument("--png", type=Path, help="PNG input (default: synthetic 1448x1448 RGB)")
    parser.add_argument(
        "--inputs",
        type=input_kinds,
        default=["jpeg", "png"],
        help="which inputs to use, alternating (default: jpeg,png)",
    )
    parser.add_argument(
        "--srcset",
        type=widths,
        metavar="W,W,...",
        help="every job also makes these widths of its input (a srcset), beside its "
        "operation's result: the cost of variant jobs",
    )
    parser.add_argument("--email", help="sign in as this user (default: register a fresh one)")
    parser.add_argument("--password", help="password for --email")
    parser.add_argument("--json", action="store_true", help="print a JSON document")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds per job (default: 300)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imgflow loadtest",
        description=loadtest.__doc__.split("\n\n")[0] if loadtest.__doc__ else None,
    )
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
