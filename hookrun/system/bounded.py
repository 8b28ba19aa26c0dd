"""Calls that must return by a deadline even when the OS would block longer.

A network call can block past any per-operation timeout: name resolution has none, and a
server that trickles one byte at a time resets every read timeout. `call_within` runs the call
on a daemon thread and stops waiting at the deadline; the abandoned call ends by its own
timeouts, and what it returns late is handed to `discard` (e.g. to close a socket).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar, cast

from hookrun.errors import Overrun
from hookrun.system.clock import chunk

T = TypeVar("T")


class _Box(Generic[T]):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.abandoned = False
        self.value: T | None = None
        self.error: BaseException | None = None


def call_within(call: Callable[[], T], seconds: float,
                discard: Callable[[T], None] | None = None) -> T:
    """call(), or Overrun after `seconds`."""
    box: _Box[T] = _Box()

    def run() -> None:
        try:
            value = call()
        except BaseException as err:  # carried to the caller
            box.error = err
            box.done.set()
            return
        with box.lock:
            box.value = value
            late = box.abandoned
            box.done.set()
        if late and discard is not None:
            discard(value)

    threading.Thread(target=run, name="hookrun-bounded", daemon=True).start()
    end = time.monotonic() + seconds
    while not box.done.wait(chunk(end - time.monotonic())) and time.monotonic() < end:
        pass
    with box.lock:
        if not box.done.is_set():
            box.abandoned = True
            raise Overrun()
    if box.error is not None:
        raise box.error
    return cast(T, box.value)  # set: done without error
