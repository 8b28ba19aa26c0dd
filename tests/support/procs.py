"""Watching real processes: their state, their end, and their readiness, always bounded."""

from __future__ import annotations

import os
import re
import selectors
import time
from collections.abc import Callable
from typing import IO

READY = re.compile(r"ready pid=(\d+)")


def state(pid: int) -> str | None:
    """The process's state letter (R, S, Z...), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rpartition(b")")[2].split()[0].decode()
    except OSError:
        return None


def alive(pid: int) -> bool:
    """Running (a zombie has exited)."""
    return state(pid) not in (None, "Z", "X")


def wait_gone(pids: list[int], seconds: float) -> list[int]:
    """Wait up to `seconds` for every pid to exit; those still running."""
    end = time.monotonic() + seconds
    while True:
        left = [pid for pid in pids if alive(pid)]
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.01)


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll `condition` every 5 ms until it holds; fail naming `what` after `seconds`."""
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, f"not within {seconds}s: {what}"
        time.sleep(0.005)


def holds_pidfd(pid: int) -> bool:
    """The process has a pidfd open: hookrun waits on one for a process to exit."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[pidfd]":
                return True
        except OSError:
            continue
    return False


def read_until(stream: IO[str], pattern: str, seconds: float, count: int = 1) -> list[str]:
    """Lines read from `stream` until `count` of them match `pattern` (or fail after `seconds`).

    Reads the pipe a byte at a time, so nothing past the last line stays in a buffer the
    selector cannot see, and the stream can still be read normally afterwards.
    """
    lines: list[str] = []
    line = b""
    end = time.monotonic() + seconds
    with selectors.DefaultSelector() as sel:
        sel.register(stream.fileno(), selectors.EVENT_READ)
        while sum(1 for text in lines if re.search(pattern, text)) < count:
            left = end - time.monotonic()
            assert left > 0 and sel.select(left), f"no {pattern!r} within {seconds}s: {lines}"
            byte = os.read(stream.fileno(), 1)
            assert byte, f"end of output before {pattern!r}: {lines}"
            line += byte
            if byte == b"\n":
                lines.append(line.decode())
                line = b""
    return lines
