"""One exclusive lock per hook (state_dir/HOOK.lock), and finding the process that holds it.

The holder writes "PID START_TICKS INSTANCE" into the lock file, so that a prestop can
cancel the poststart of the same container instance without ever signalling a recycled pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from collections.abc import Callable

from hookrun.record import record
from hookrun.system.clock import Clock
from hookrun.system.control import open_pidfd
from hookrun.system.files import open_regular
from hookrun.system.procfs import start_ticks

MAX_POLL = 0.05  # seconds between two tries of a contended lock, at most


@record
class Holder:
    """Who holds a hook's lock."""

    pid: int
    start: int  # start time of pid in clock ticks since boot: guards against pid reuse
    instance: str  # container-instance key of the holder

    def alive(self) -> bool:
        return start_ticks(self.pid) == self.start


def lock_name(hook: str) -> str:
    return f"{hook}.lock"


def acquire(dir_fd: int, hook: str, instance: str, until: float, clock: Clock,
            on_wait: Callable[[Holder | None], None],
            give_up: Callable[[], bool] = lambda: False) -> int | None:
    """Take the hook's lock, waiting until `until` at most; the lock's fd, or None (timed out,
    or `give_up()` became true while waiting).

    `on_wait` is called once, with the current holder if known, when the lock is taken by
    another process. Raises OSError when the lock file cannot be opened (a symlink, a FIFO).
    The holder's record needs a few bytes of disk: on a full volume the lock is kept without it.
    """
    fd = open_regular(lock_name(hook), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600, dir_fd=dir_fd)
    try:
        pause, waited = 0.002, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                with contextlib.suppress(OSError):  # ENOSPC, EDQUOT: the flock itself needs no space
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, f"{os.getpid()} {start_ticks(os.getpid())} {instance}\n".encode(), 0)
                held, fd = fd, -1
                return held
            if not waited:
                waited = True
                on_wait(_holder(fd))
            left = until - clock.now()
            if left <= 0 or give_up():
                return None
            time.sleep(min(pause, left))
            pause = min(pause * 2, MAX_POLL)
    finally:
        if fd >= 0:
            os.close(fd)


def stopping(dir_fd: int, instance: str) -> bool:
    """prestop has started in this container instance: its lock's record names the instance
    (the record stays after prestop ends; a restarted container is another instance)."""
    try:
        fd = open_regular(lock_name("prestop"), os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        holder = _holder(fd)
    finally:
        os.close(fd)
    return holder is not None and holder.instance == instance


def _holder(fd: int) -> Holder | None:
    try:
        pid, start, instance = os.pread(fd, 256, 0).decode().split()
        return Holder(int(pid), int(start), instance)
    except (OSError, ValueError):
        return None


def cancel_holder(dir_fd: int, hook: str, instance: str, protected: frozenset[int],
                  tries: int = 20) -> Holder | None:
    """SIGTERM the process running `hook` in this container instance; the holder, or None.

    Does not wait for it to exit. A holder that has just taken the lock may not have
    written its record yet, so a stale record is read again a few times (bounded).
    """
    try:
        fd = open_regular(lock_name(hook), os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        for _ in range(tries):
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return None  # nobody holds it
            except BlockingIOError:
                pass
            holder = _holder(fd)
            if holder is not None and holder.instance != instance:
                return None  # another container sharing the state directory
            if holder is not None and holder.pid not in protected and _signal(holder):
                return holder
            time.sleep(0.01)
        return None
    finally:
        os.close(fd)


def _signal(holder: Holder) -> bool:
    """SIGTERM holder if it is still the process that wrote the record."""
    pidfd = open_pidfd(holder.pid)  # checked after this, the pidfd pins this very process
    try:
        if not holder.alive():
            return False
        with contextlib.suppress(ProcessLookupError):
            if pidfd is None:  # no pidfds here: by pid, right after the check
                os.kill(holder.pid, signal.SIGTERM)
            else:
                signal.pidfd_send_signal(pidfd, signal.SIGTERM)
        return True
    finally:
        if pidfd is not None:
            os.close(pidfd)
