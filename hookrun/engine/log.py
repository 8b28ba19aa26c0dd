"""Rendering events as text or JSON lines, and opening the log target (SPEC §5)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from datetime import datetime, timezone
from typing import get_args

from hookrun.config.values import format_time
from hookrun.engine.report import Event, EventName, Level
from hookrun.record import record, replace
from hookrun.system.files import open_regular
from hookrun.system.output import LineWriter, open_nonblocking

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


@record
class Target:
    """Where log lines go."""

    fd: int  # where log lines go
    word: str  # "pid1", "stderr" or the file's path
    problem: str | None = None  # why the wanted target is not used


def open_target(target: str) -> Target:
    """`auto` = PID 1's stdout when possible, else hookrun's stderr; a path is appended to. The fd
    never blocks a write: a log target that does not keep up loses lines, never the deadline."""
    if target in ("auto", "pid1") and os.getpid() != 1:
        try:
            return Target(open_nonblocking("/proc/1/fd/1"), "pid1")
        except OSError:
            pass
    elif target not in ("auto", "pid1", "stderr"):
        try:
            return Target(open_nonblocking(target, create=True), target)
        except OSError as err:
            why = "a FIFO with no reader" if err.errno == errno.ENXIO else err.strerror
            return Target(own_stderr(), "stderr", f"cannot open log target {target} ({why}); "
                          "logging to stderr")
    return Target(own_stderr(), "stderr")


def _same_file(a: int, b: int) -> bool:
    try:
        sa, sb = os.fstat(a), os.fstat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def own_stderr() -> int:
    """hookrun's stderr, as an fd that never blocks (a description of our own where possible)."""
    try:
        return open_nonblocking("/proc/self/fd/2")
    except OSError:  # a socket, or no /proc: the shared description, as it is
        return os.dup(2)


class Logger:
    """A Sink writing each event as one line. Never raises and never blocks: a lost or stuck
    log target is not fatal, and lines it cannot take in time are dropped and counted.

    When logs go to PID 1's stdout, warnings, errors and the summary are also written to our
    own stderr, which the kubelet keeps (postStart failures show it in waiting.message).
    """

    def __init__(self, target: Target, fmt: str = "text", verbosity: int = 0,
                 echo: bool = True, mask: Callable[[str], str] = str) -> None:
        self.out = LineWriter(target.fd)
        self.mask = mask
        self.render = render_json if fmt == "json" else render_text
        self.threshold = LEVELS["warning"] if verbosity < 0 else LEVELS["info"]
        self.echo: LineWriter | None = None
        if echo and target.word != "stderr":
            fd = own_stderr()
            if _same_file(fd, target.fd):
                os.close(fd)
            else:
                self.echo = LineWriter(fd)

    @property
    def dropped(self) -> int:
        return self.out.dropped + (self.echo.dropped if self.echo is not None else 0)

    def __call__(self, event: Event) -> None:
        important = event.event == "summary" or LEVELS.get(event.level, 1) >= LEVELS["warning"]
        if not important and LEVELS.get(event.level, 1) < self.threshold:
            return
        # the message is masked before rendering: JSON would escape a secret's quotes otherwise
        line = (self.render(replace(event, message=self.mask(event.message))) + "\n").encode()
        self.out.write(line, keep=event.event == "summary")
        if self.echo is not None and important:
            self.echo.write(line, keep=event.event == "summary")

    def flush(self, seconds: float) -> None:
        """Wait at most `seconds` in all for the targets to take what is pending."""
        for writer in (self.out, self.echo):
            if writer is not None:
                writer.flush(seconds / 2)

    def close(self, seconds: float) -> None:
        """Flush what the targets did not take yet, for at most `seconds` in all; close them."""
        for writer in (self.out, self.echo):
            if writer is not None:
                writer.close(seconds / 2)
                os.close(writer.fd)


def write_termination_message(path: str, text: str) -> str | None:
    """Replace the termination message file's content (SPEC §5); a problem, or None."""
    try:  # a regular file (Kubernetes mounts one); a FIFO there would block the hook
        fd = open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    except OSError as err:
        return f"cannot write the termination message to {path}: {err.strerror}"
    try:
        os.write(fd, text.encode())
    except OSError as err:
        return f"cannot write the termination message to {path}: {err.strerror}"
    finally:
        os.close(fd)
    return None
