"""Clocks and nested deadlines (hook -> step -> attempt). Time is float seconds, monotonic."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()


@dataclass(frozen=True)
class Deadline:
    """An absolute time on a Clock, and which level ("hook", "step", "attempt") set it."""

    at: float
    source: str

    def within(self, seconds: float | None, source: str, now: float) -> Deadline:
        """A nested deadline: `seconds` from now, never later than this one."""
        if seconds is None or now + seconds >= self.at:
            return self
        return Deadline(now + seconds, source)

    def left(self, now: float) -> float:
        return max(0.0, self.at - now)

    def passed(self, now: float) -> bool:
        return now >= self.at


def process_age() -> float:
    """Seconds since this process was started, as the OS recorded it.

    Used so that the prestop budget includes interpreter and bundle start-up time. A frozen
    build counts from its first process: the one-file bootloader that unpacked us (our parent,
    running the same file) and, in the static build, the staticx launcher above it.
    """
    pid = _bundle_root_pid()
    started = start_ticks(pid)
    if started is None:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    uptime = time.clock_gettime(time.CLOCK_BOOTTIME)
    return max(0.0, uptime - started / ticks)


def _bundle_root_pid() -> int:
    """Our pid, or that of the outermost launcher of our bundle."""
    pid = os.getpid()
    if not getattr(sys, "frozen", False):
        return pid
    launchers = {exe_path(pid), os.environ.get("STATICX_PROG_PATH")}
    for _ in range(2):  # one-file bootloader, then the staticx launcher
        parent = _stat_field(pid, 1)
        if not parent or exe_path(parent) not in launchers:
            break
        pid = parent
    return pid


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks after boot (/proc/PID/stat field 22)."""
    return _stat_field(pid, 19)


def exe_path(pid: int) -> str | None:
    """The executable process `pid` runs, or None when it cannot be read."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _stat_field(pid: int, index: int) -> int | None:
    """A numeric field of /proc/PID/stat, counted from the state field (0) after the name."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[index])
    except (OSError, IndexError, ValueError):
        return None
