"""Parsing of the small value types of the config: durations and signals."""

from __future__ import annotations

import math
import re
import signal
from datetime import datetime, timezone

from hookrun.errors import ValueProblem

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


MAX_DURATION = 366 * 24 * 3600.0  # a year: no hook, step or grace period needs more


def parse_duration(value: object) -> float:
    """Seconds from "250ms", "2s", "1m30s", "1.5h" or a bare non-negative number, up to a year."""
    seconds = _duration(value)
    if seconds > MAX_DURATION:
        raise ValueProblem(f"a duration must be at most 8784h (a year), got {value!r}")
    return seconds


def _duration(value: object) -> float:
    if isinstance(value, bool):
        raise ValueProblem(f"expected a duration like \"2s\", got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueProblem(f"a duration must be a finite number, got {value!r}")
        if value < 0:
            raise ValueProblem(f"a duration cannot be negative, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueProblem(f"expected a duration like \"2s\", got {type(value).__name__}")
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return float(text)
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueProblem(
            f"expected a duration like \"250ms\", \"2s\" or \"1m30s\", got {value!r}"
        )
    return total


def format_duration(seconds: float) -> str:
    """Short human form: 0.25 -> "250ms", 90 -> "1m30s", 2.5 -> "2.5s"."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    minutes, rest = divmod(seconds, 60)
    tail = f"{rest:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m" + (f"{tail}s" if rest else "")


def whole_seconds(seconds: float) -> int:
    """Round up to whole seconds, as terminationGracePeriodSeconds counts (2.0000001 -> 2)."""
    return math.ceil(seconds - 1e-9)


def format_time(epoch: float) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. "2026-11-24T05:26:45.179Z"."""
    stamp = datetime.fromtimestamp(epoch, timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def parse_signal(value: object) -> int:
    """Signal number from "TERM", "SIGTERM", "sigterm" or a number."""
    if isinstance(value, bool):
        raise ValueProblem(f"expected a signal like \"TERM\", got {value!r}")
    if isinstance(value, int):
        if value <= 0 or value >= signal.NSIG:
            raise ValueProblem(f"no such signal number: {value}")
        return value
    if not isinstance(value, str):
        raise ValueProblem(f"expected a signal like \"TERM\", got {type(value).__name__}")
    name = value.strip().upper()
    if name.isdigit():
        return parse_signal(int(name))
    if not name.startswith("SIG"):
        name = "SIG" + name
    number = getattr(signal.Signals, name, None) if name in signal.Signals.__members__ else None
    if number is None:
        raise ValueProblem(f"unknown signal {value!r} (use a name like \"TERM\", \"QUIT\" or a number)")
    return int(number)


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
