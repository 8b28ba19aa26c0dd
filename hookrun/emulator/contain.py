"""Making `hookrun emulate`'s children behave like the processes of a container.

Every child dies with the emulator (PR_SET_PDEATHSIG), as a container's processes die with it.
With a PID namespace, the emulator moves its future children into a new one (unshare
CLONE_NEWPID): the first child, CMD, is its PID 1 and the hooks started later join it, as the
exec'd hooks of a pod do. Each child then gets a private mount namespace with its own /proc, so
it sees the namespace's processes. When PID 1 ends, the kernel kills every other process of the
namespace, exactly as when a container ends.
"""

from __future__ import annotations

import ctypes
import os
import signal

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_REC, MS_PRIVATE = 0x4000, 0x40000
PR_SET_PDEATHSIG = 1

_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here, not again in each forked child


def _call(name: str, *args: object) -> None:
    if getattr(_LIBC, name)(*args) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{name}: {os.strerror(errno)}")


def pid_namespace_unavailable() -> str | None:
    """Why a PID namespace cannot be made here, or None."""
    if os.geteuid() != 0:
        return ("--pid-namespace needs root (it creates a PID namespace and mounts /proc); "
                "run as root, or leave the option out")
    if not os.path.isdir("/proc/self/ns"):
        return "--pid-namespace needs Linux namespaces (/proc/self/ns is missing)"
    return None


def new_pid_namespace() -> None:
    """Put this process's future children into a new PID namespace (OSError if refused)."""
    _call("unshare", CLONE_NEWPID)


def child_setup(fresh_proc: bool) -> None:
    """In a child before exec: die with the emulator; with `fresh_proc`, a /proc of its own."""
    _call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if fresh_proc:
        _call("unshare", CLONE_NEWNS)
        _call("mount", b"none", b"/", None, MS_REC | MS_PRIVATE, None)
        _call("mount", b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
