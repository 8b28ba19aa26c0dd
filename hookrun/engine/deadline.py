"""Nested deadlines (hook -> step -> attempt). Time is float seconds on a monotonic Clock."""

from __future__ import annotations

from typing import Literal

from hookrun.record import record

Level = Literal["hook", "step", "attempt", "reserve"]


@record
class Deadline:
    """An absolute time on a Clock, and which level set it."""

    at: float
    source: Level

    def within(self, seconds: float | None, source: Level, now: float) -> Deadline:
        """A nested deadline: `seconds` from now, never later than this one."""
        if seconds is None or now + seconds >= self.at:
            return self
        return Deadline(now + seconds, source)

    def left(self, now: float) -> float:
        return max(0.0, self.at - now)

    def passed(self, now: float) -> bool:
        return now >= self.at
