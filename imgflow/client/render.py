"""Everything the client writes to the terminal.

stdout carries what a script wants (paths written, job ids, tables, JSON); stderr
carries progress and errors, so `imgflow submit ... | xargs open` sees only paths.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from imgflow.client.outputs import short_id
from imgflow.client.service import ImageInfo, Job
from imgflow.domain import JobStatus

COLUMNS = ("ID", "STATUS", "QUEUE", "CREATED", "RESULT")


def say(text: str) -> None:
    print(text, flush=True)


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def error(message: str) -> None:
    note(f"error: {message}")


def human_bytes(count: int) -> str:
    """Decimal units, as file managers show them: 812 B, 4.1 KB, 41 KB, 2.3 MB."""
    value = float(count)
    for unit in ("B", "KB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" or value >= 10 else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def describe(image: ImageInfo) -> str:
    frames = f" {image.frames} frames" if image.frames > 1 else ""
    return f"{image.width}x{image.height} {image.format} {human_bytes(image.bytes)}{frames}"


def status_line(job: Job) -> str:
    """`6f1c2a9b QUEUED (queue CONVERT)`, `6f1c2a9b SUCCEEDED 800x533 WEBP 41 KB`, ..."""
    detail = ""
    if job.status == JobStatus.QUEUED:
        detail = f" (queue {job.queue})"
    elif job.status == JobStatus.PROCESSING and len(job.outputs) > 1:
        retry = f", attempt {job.attempts}" if job.attempts > 1 else ""
        detail = f" ({job.done}/{len(job.outputs)} outputs{retry})"
    elif job.status == JobStatus.PROCESSING and job.attempts > 1:
        detail = f" (attempt {job.attempts})"
    elif job.result is not None:
        detail = f" {describe(job.result)}"
    elif job.error_code:
        detail = f" {job.error_code}"
    return f"{short_id(job.id)} {job.status}{detail}"


@dataclass
class Progress:
    """One stderr line per status change, and per output stored (the subscription
    repeats a state it sends first, and after a reconnection)."""

    quiet: bool = False
    last_status: tuple[str, int] | None = None

    def submitted(self, source: Path, job: Job) -> None:
        if not self.quiet:
            note(f"submitted {source.name} as job {job.id}")
        self.show(job)

    def show(self, job: Job) -> None:
        if (job.status, job.done) != self.last_status and not self.quiet:
            note(status_line(job))
        self.last_status = (job.status, job.done)


def analysis_lines(analysis: Mapping[str, Any]) -> str:
    """`blurhash LEHV6nWB2yk8`, `colors #d2301e #1e28dc`, `phash ...`, then EXIF `Make: ...`."""
    lines = [
        f"blurhash {analysis['blurhash']}",
        f"colors {' '.join(analysis['dominantColors'])}",
        f"phash {analysis['phash']}",
        f"frames {analysis['frames']}{' animated' if analysis['animated'] else ''}"
        f"{' alpha' if analysis['hasAlpha'] else ''}",
    ]
    lines += [f"{entry['tag']}: {entry['value']}" for entry in analysis["exif"]]
    return "\n".join(lines)


def job_json(job: Job, files: Sequence[Path] | None = None) -> str:
    """One line: the job as the service sent it, and the files written if any were due."""
    if files is None:
        return json.dumps(job.raw)
    return json.dumps({**job.raw, "files": [str(path) for path in files]})


def local_time(text: str) -> str:
    try:
        return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


def outcome(job: Job) -> str:
    if job.result is not None:
        return describe(job.result)
    return job.error_code or ""


def jobs_table(jobs: Sequence[Job]) -> str:
    rows = [COLUMNS]
    rows += [
        (job.id, job.status, job.queue, local_time(job.created_at), outcome(job)) for job in jobs
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
