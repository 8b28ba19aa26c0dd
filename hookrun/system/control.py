"""Signals and pidfds: reaching a process, or a whole process group, without races."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
from collections.abc import Callable

KILL_GRACE = 0.1  # seconds between SIGTERM and SIGKILL of a timed-out process group


@functools.cache
def libc_prctl() -> Callable[..., int] | None:
    """libc's prctl, loaded once in hookrun (not in every supervisor: that costs ~2.5 ms)."""
    try:
        import ctypes

        function: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return function
    except (ImportError, OSError, AttributeError):
        return None


def open_pidfd(pid: int) -> int | None:
    """A pidfd pinning the process; None if it is gone or the kernel has no pidfds."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def terminate_group(pgid: int, wait: Callable[[float], bool], grace: float = KILL_GRACE) -> None:
    """SIGTERM the group, give the leader `grace` seconds, then SIGKILL the group. CONT after
    TERM: a stopped process acts on TERM only once it runs again."""
    kill_group(pgid, signal.SIGTERM)
    kill_group(pgid, signal.SIGCONT)
    if not wait(grace):
        kill_group(pgid, signal.SIGKILL)
    wait(1.0)


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a whole process group; a group that is already gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def signal_quietly(pid: int, signum: int) -> None:
    """Send a signal; a process that is already gone is not an error."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def wait_for_exit(pid: int, seconds: float) -> bool:
    """Wait up to `seconds` for `pid` to exit (on its pidfd; polled without one); True if it did."""
    import selectors
    import time

    from hookrun.system.clock import chunk

    end = time.monotonic() + max(0.0, seconds)
    pidfd = open_pidfd(pid)
    if pidfd is None:
        while time.monotonic() < end:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                pass
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))
        return False
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(pidfd, selectors.EVENT_READ)
            while (left := end - time.monotonic()) > 0:
                if sel.select(chunk(left)):
                    return True
            return False
    finally:
        os.close(pidfd)
