"""Rendering events as text or JSON lines, and opening the log target (SPEC §5)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from typing import TextIO, get_args

from hookrun.config.values import format_time
from hookrun.engine.report import Event, EventName, Level

LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3}


def render_text(event: Event) -> str:
    where = f"hookrun {event.hook}" + (f" {event.step}" if event.step else "")
    if event.event == "output":
        return f"{where}: | {event.message}"
    return f"{where}: {event.event}: {event.message}"


def render_json(event: Event) -> str:
    import json  # only for JSON logs: a text-logging hook does not pay for it at start-up

    return json.dumps({
        "time": format_time(event.time),
        "level": event.level,
        "hook": event.hook,
        "step": event.step,
        "event": event.event,
        "attempt": event.attempt,
        "elapsed_ms": event.elapsed_ms,
        "budget_left_ms": event.budget_left_ms,
        "message": event.message,
    }, ensure_ascii=False)


def parse_json(line: str) -> Event | None:
    """The Event a render_json line holds, or None when the line is not one (the inverse)."""
    import json

    try:
        data = json.loads(line)
        stamp = datetime.strptime(data["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        level, event = data["level"], data["event"]
        if level not in get_args(Level) or event not in get_args(EventName):
            return None
        return Event(stamp.timestamp(), level, str(data["hook"]), data["step"], event,
                     data["attempt"], int(data["elapsed_ms"]), int(data["budget_left_ms"]),
                     str(data["message"]))
    except (ValueError, KeyError, TypeError):
        return None


def open_target(target: str, stderr: TextIO) -> tuple[TextIO, str, str | None]:
    """The stream for `target`, a word for it, and a problem to report (or None).
    `auto` = PID 1's stdout when possible; `stderr` is hookrun's own, given by the edge."""
    if target == "stderr":
        return stderr, "stderr", None
    if target in ("auto", "pid1"):
        if os.getpid() != 1:
            try:
                return open("/proc/1/fd/1", "a", encoding="utf-8", buffering=1), "pid1", None
            except OSError:
                pass
        return stderr, "stderr", None
    try:
        return open(target, "a", encoding="utf-8", buffering=1), target, None
    except OSError as err:
        return stderr, "stderr", f"cannot open log target {target}: {err.strerror}; logging to stderr"


def _same_file(a: TextIO, b: TextIO) -> bool:
    try:
        sa, sb = os.fstat(a.fileno()), os.fstat(b.fileno())
    except (OSError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


class Logger:
    """A Sink writing each event as one line. Never raises: a lost log target is not fatal.

    When logs go to PID 1's stdout, warnings, errors and the summary are also written to our
    own stderr, which the kubelet keeps (postStart failures show it in waiting.message).
    """

    def __init__(self, stream: TextIO, fmt: str = "text", verbosity: int = 0,
                 echo: TextIO | None = None, mask: Callable[[str], str] = str) -> None:
        self.stream = stream
        self.mask = mask
        self.render = render_json if fmt == "json" else render_text
        self.threshold = LEVELS["warning"] if verbosity < 0 else LEVELS["info"]
        self.echo = echo if echo is not None and not _same_file(echo, stream) else None

    def __call__(self, event: Event) -> None:
        important = event.event == "summary" or LEVELS.get(event.level, 1) >= LEVELS["warning"]
        if not important and LEVELS.get(event.level, 1) < self.threshold:
            return
        # the message is masked before rendering: JSON would escape a secret's quotes otherwise
        line = self.render(replace(event, message=self.mask(event.message))) + "\n"
        self._write(self.stream, line)
        if self.echo is not None and important:
            self._write(self.echo, line)

    @staticmethod
    def _write(stream: TextIO, line: str) -> None:
        try:
            stream.write(line)
            stream.flush()
        except (OSError, ValueError):
            pass


def write_termination_message(path: str, text: str) -> str | None:
    """Replace the termination message file's content (SPEC §5); a problem, or None."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as err:
        return f"cannot write the termination message to {path}: {err.strerror}"
    try:
        os.write(fd, text.encode())
    except OSError as err:
        return f"cannot write the termination message to {path}: {err.strerror}"
    finally:
        os.close(fd)
    return None
