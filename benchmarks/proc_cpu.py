"""CPU time of running processes from /proc (Linux): the whole process and its main
thread, which in every imgflow process is the one running the asyncio event loop (the
Pillow pool, aiosqlite and `to_thread` work run on other threads)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(stat_path: Path) -> float:
    """utime + stime of a /proc/<pid>/stat (or task/<tid>/stat) line, in seconds."""
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat_path.read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / TICKS_PER_S


@dataclass(frozen=True)
class Sample:
    total_s: float
    main_thread_s: float

    def __sub__(self, earlier: Sample) -> Sample:
        return Sample(self.total_s - earlier.total_s, self.main_thread_s - earlier.main_thread_s)

    @property
    def other_threads_s(self) -> float:
        return self.total_s - self.main_thread_s


def sample(pid: int) -> Sample:
    """The process's CPU so far (threads that ended included) and its main thread's."""
    proc = Path("/proc") / str(pid)
    return Sample(cpu_seconds(proc / "stat"), cpu_seconds(proc / "task" / str(pid) / "stat"))


def loadavg() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())
