"""Command output: bytes from a pipe in, one bounded text line at a time out."""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable

MAX_LINE = 8192  # longer output lines are cut
MAX_LOGGED = 1 << 20  # output bytes logged per attempt; the rest is drained and dropped


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
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            left = end - time.monotonic()
            if left <= 0 or not sel.select(left) or not read_some(fd, lines):
                return
