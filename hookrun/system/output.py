"""Command output: bytes from a pipe in, one bounded text line at a time out."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable

MAX_LINE = 8192  # longer output lines are cut
MAX_LOGGED = 1 << 20  # output bytes logged per attempt; the rest is drained and dropped


def ready(fds: tuple[int, ...], seconds: float, write: bool = False) -> bool:
    """One of `fds` became readable (`write`: writable), or is closed, within `seconds`.
    poll(2) itself: the selectors module is 1 ms of every hook's start (bench/startup.py)."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLOUT if write else select.POLLIN)
    return bool(poller.poll(max(0.0, seconds) * 1000.0))


class LineSplitter:
    """Bytes in, one callback per text line out; bounded line length and total volume."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self.on_line = on_line
        self.buffer = b""
        self.logged = 0
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        self.buffer += chunk
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self._emit(line)
        if len(self.buffer) > MAX_LINE:
            self._emit(self.buffer)
            self.buffer = b""

    def _emit(self, line: bytes) -> None:
        if self.logged >= MAX_LOGGED:
            self.dropped += len(line) + 1
            return
        self.logged += len(line) + 1
        text = line[:MAX_LINE].decode("utf-8", "replace").rstrip("\r")
        if len(line) > MAX_LINE:
            text += f" [... {len(line) - MAX_LINE} bytes cut]"
        self.on_line(text)

    def close(self) -> None:
        if self.buffer:
            self._emit(self.buffer)
            self.buffer = b""
        if self.dropped:
            self.on_line(f"[... {self.dropped} more bytes of output not logged]")
            self.dropped = 0


def read_some(fd: int, lines: LineSplitter) -> bool:
    """Read what is available; False at end of file."""
    try:
        chunk = os.read(fd, 65536)
    except BlockingIOError:
        return True
    except OSError:
        return False
    if not chunk:
        return False
    lines.feed(chunk)
    return True


def drain(fd: int, lines: LineSplitter, seconds: float) -> None:
    """Read the rest of the output, but no longer than `seconds` (a background child may hold the pipe)."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0 or not ready((fd,), left) or not read_some(fd, lines):
            return


class LineWriter:
    """Whole lines to a file descriptor, never blocking: what the fd cannot take now (a pipe
    nobody reads, a slow terminal) waits in a buffer of at most `limit` bytes; lines beyond it
    are dropped and counted. A line that must not be lost (`keep`) may exceed the limit."""

    def __init__(self, fd: int, limit: int = 256 * 1024) -> None:
        self.fd, self.limit = fd, limit
        self.pending = b""
        self.dropped = 0  # lines not written
        self.broken = False  # the reader is gone (EPIPE): nothing more is tried

    def write(self, line: bytes, keep: bool = False) -> None:
        self._flush()
        if self.broken:
            self.dropped += 1
            return
        if self.pending:
            if len(self.pending) + len(line) > self.limit and not keep:
                self.dropped += 1
            else:
                self.pending += line
            return
        self.pending = line
        self._flush()

    def _flush(self) -> None:
        while self.pending and not self.broken:
            try:
                written = os.write(self.fd, self.pending)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # EPIPE, EIO...: the target is gone; what is pending is lost
                self.broken = True
                self.dropped += self.pending.count(b"\n")
                self.pending = b""
                return
            self.pending = self.pending[written:]

    def flush(self, seconds: float) -> None:
        """Write what is pending, waiting at most `seconds` for the reader to take it."""
        end = time.monotonic() + seconds
        while self.pending and not self.broken and (left := end - time.monotonic()) > 0:
            try:
                writable = ready((self.fd,), left, write=True)
            except (OSError, ValueError):  # not an fd
                return
            if writable:
                self._flush()

    def close(self, seconds: float) -> None:
        """Flush for at most `seconds` (the reader may never come back); drop what is left."""
        self.flush(seconds)
        if self.pending:
            self.dropped += self.pending.count(b"\n")
            self.pending = b""


def open_nonblocking(path: str, create: bool = False) -> int:
    """An fd for appending to `path` that never blocks: a FIFO without a reader is refused
    (ENXIO) instead of waiting for one. /proc/PID/fd/N of a pipe opens a description of our
    own, so making it non-blocking changes nothing for the process that owns the pipe."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    return os.open(path, flags, 0o644)
