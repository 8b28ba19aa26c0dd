"""Time as hookrun sees it: float seconds on a monotonic clock that tests can replace."""

from __future__ import annotations

import time
from typing import Protocol

MAX_WAIT = 3600.0  # the longest single wait handed to the OS (epoll takes at most ~24.8 days)


def chunk(seconds: float) -> float:
    """A wait the OS accepts: at most MAX_WAIT (callers loop until their deadline), never < 0."""
    return min(max(0.0, seconds), MAX_WAIT)


class Clock(Protocol):
    def now(self) -> float: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()
