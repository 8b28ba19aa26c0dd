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

    Used so that the prestop budget includes interpreter and bundle start-up time.
    When run from a PyInstaller one-file bundle, the bootloader (our parent) started first;
    its start time counts.
    """
    pid = _bundle_root_pid()
    started = start_ticks(pid)
    if started is None:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    uptime = time.clock_gettime(time.CLOCK_BOOTTIME)
    return max(0.0, uptime - started / ticks)


def _bundle_root_pid() -> int:
    """Our pid, or the one-file bootloader's: a frozen child whose parent runs the same file."""
    pid = os.getpid()
    if not getattr(sys, "frozen", False):
        return pid
    parent = os.getppid()
    try:
        if parent > 1 and os.readlink(f"/proc/{parent}/exe") == os.readlink("/proc/self/exe"):
            return parent
    except OSError:
        pass
    return pid


def start_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None
