"""What a one-file build (PyInstaller, also inside the static build) needs at start.

The Python process of a one-file build is the child of the bootloader that unpacked it to a
temporary directory. When that bootloader is SIGKILLed (what a container runtime does to an
exec it gives up on), the bootloader cannot forward anything or clean up: this process would
run on as an orphan, and the unpacked bundle would stay on disk. bind_to_launcher() asks the
kernel for a SIGTERM when the bootloader dies, which hookrun handles like any SIGTERM (its
commands are stopped, exit 143), and removes the unpacked bundle on the way out if the
bootloader is gone.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys

from hookrun.system.control import libc_prctl
from hookrun.system.procfs import exe_path

_PR_SET_PDEATHSIG = 1


def bind_to_launcher() -> bool:
    """Tie this process to its one-file bootloader; False when not a one-file build."""
    bundle = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or not bundle or not _is_unpacked(bundle):
        return False
    launcher = os.getppid()
    if exe_path(launcher) != exe_path(os.getpid()):  # already gone: we were handed to another parent
        os.kill(os.getpid(), signal.SIGTERM)
        return True
    prctl = libc_prctl()
    if prctl is None or prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return False
    atexit.register(_remove_if_orphaned, bundle, launcher)
    if os.getppid() != launcher:  # the bootloader died before the request was in place
        os.kill(os.getpid(), signal.SIGTERM)
    return True


def _is_unpacked(bundle: str) -> bool:
    """A one-file bundle lives in a _MEIxxxxxxxx directory; a one-dir one next to the executable."""
    return os.path.basename(bundle).startswith("_MEI") and not bundle.startswith(
        os.path.dirname(os.path.realpath(sys.executable)) + os.sep)


def _remove_if_orphaned(bundle: str, launcher: int) -> None:
    if os.getppid() != launcher:  # nobody else is left to remove it
        import shutil

        shutil.rmtree(bundle, ignore_errors=True)
