"""A PID namespace for `hookrun emulate --pid-namespace`: CMD becomes its PID 1, the hooks join it.

The emulator moves its future children into a new PID namespace (unshare CLONE_NEWPID), so the
first child, CMD, is PID 1 and the hooks started later are in the same namespace, as `kubectl
exec`-style hooks are in a pod. Each child also gets a private mount namespace with its own
/proc, so it sees the namespace's processes. When PID 1 ends, the kernel kills every other
process of the namespace, exactly as when a container ends.
"""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_REC, MS_PRIVATE = 0x4000, 0x40000

_libc: ctypes.CDLL | None = None


def unavailable() -> str | None:
    """Why a PID namespace cannot be made here, or None."""
    if os.geteuid() != 0:
        return ("--pid-namespace needs root (it creates a PID namespace and mounts /proc); "
                "run as root, or leave the option out")
    if not os.path.isdir("/proc/self/ns"):
        return "--pid-namespace needs Linux namespaces (/proc/self/ns is missing)"
    return None


def _call(name: str, *args: object) -> None:
    assert _libc is not None
    if getattr(_libc, name)(*args) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{name}: {os.strerror(errno)}")


def new_pid_namespace() -> None:
    """Put this process's future children into a new PID namespace (OSError if refused)."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    _call("unshare", CLONE_NEWPID)


def fresh_proc() -> None:
    """In a child before exec: a private mount namespace with /proc showing its PID namespace."""
    _call("unshare", CLONE_NEWNS)
    _call("mount", b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    _call("mount", b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
