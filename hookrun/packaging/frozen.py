"""What a one-file build (PyInstaller, also inside the static build) needs at start.

The Python process of a one-file build is the child of the bootloader that unpacked it to a
temporary directory (_MEIxxxxxx). In the static build, that bootloader is itself the child of
the staticx launcher, which unpacked the bootloader and its libraries (staticx-xxxxxx). When a
launcher is SIGKILLed (what a container runtime does to an exec it gives up on), it cannot
forward anything or clean up: this process would run on as an orphan, and what it unpacked
would stay on disk.

- bind_to_launcher() asks the kernel for a SIGTERM when the bootloader dies, and watches the
  staticx launcher (a pidfd, on a thread) to do the same when that one dies. hookrun handles
  the SIGTERM like any other (its commands are stopped, exit 143) and, on the way out, removes
  what the dead launcher can no longer remove.
- sweep_leftovers() removes what launchers killed before hookrun could start left behind (a
  SIGKILL while the bootloader unpacks): _MEI and staticx directories next to ours that no
  live process uses. A crash-looping container on a size-limited emptyDir does not fill it.

A launcher is recognised by the program it runs, not by /proc/PID/exe alone: under qemu-user
(an arm64 image built on amd64) every process's exe is the emulator, and the program is a
mapping of it.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import time

from hookrun.system.control import libc_prctl, open_pidfd
from hookrun.system.procfs import parent_pid, runs_program

_PR_SET_PDEATHSIG = 1
STALE_S = 5.0  # a bundle directory younger than this may belong to a hookrun still unpacking


def bind_to_launcher() -> bool:
    """Tie this process to its one-file bootloader (and staticx launcher); False when not a
    one-file build."""
    bundle = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or not bundle or not _is_unpacked(bundle):
        return False
    launcher = os.getppid()
    archive = os.environ.get("_PYI_ARCHIVE_FILE") or sys.executable
    if not runs_program(launcher, archive):  # already gone: we were handed to another parent
        os.kill(os.getpid(), signal.SIGTERM)
        return True
    prctl = libc_prctl()
    if prctl is None or prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return False
    atexit.register(_remove_if_orphaned, bundle, launcher)
    if os.getppid() != launcher:  # the bootloader died before the request was in place
        os.kill(os.getpid(), signal.SIGTERM)
        return True
    _watch_staticx(launcher)
    return True


def _watch_staticx(bootloader: int) -> None:
    """In the static build, SIGTERM ourselves when the staticx launcher dies, and remove its
    unpacked directory then (the bootloader's parent gets no signal of its parent's death)."""
    bundle_dir, program = os.environ.get("STATICX_BUNDLE_DIR"), os.environ.get("STATICX_PROG_PATH")
    if not bundle_dir or not program:
        return
    outer = parent_pid(bootloader)
    if outer is None or not runs_program(outer, program):  # killed already: the bootloader was re-parented
        atexit.register(_remove_if_gone, bundle_dir, None)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    pidfd = open_pidfd(outer)
    if pidfd is None:
        return
    import selectors
    import threading

    def wait() -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(pidfd, selectors.EVENT_READ)
            while not sel.select(3600.0):
                pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, name="hookrun-launcher-watch", daemon=True).start()
    atexit.register(_remove_if_gone, bundle_dir, outer)


def _is_unpacked(bundle: str) -> bool:
    """A one-file bundle lives in a _MEIxxxxxxxx directory; a one-dir one next to the executable."""
    return os.path.basename(bundle).startswith("_MEI") and not bundle.startswith(
        os.path.dirname(os.path.realpath(sys.executable)) + os.sep)


def _remove_if_orphaned(bundle: str, launcher: int) -> None:
    if os.getppid() != launcher:  # nobody else is left to remove it
        import shutil

        shutil.rmtree(bundle, ignore_errors=True)


def _remove_if_gone(directory: str, pid: int | None) -> None:
    """Remove `directory` when `pid` (the launcher that would remove it) is gone (None: it is)."""
    if pid is not None:
        try:
            os.kill(pid, 0)
            return
        except ProcessLookupError:
            pass
    import shutil

    shutil.rmtree(directory, ignore_errors=True)


def sweep_leftovers() -> int:
    """Remove _MEI and staticx directories beside ours that launchers killed early left (no live
    process maps a file from them); how many. Reads /proc only when there is a candidate."""
    bundle = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or not bundle or not _is_unpacked(bundle):
        return 0
    ours = {os.path.realpath(bundle), os.path.realpath(os.environ.get("STATICX_BUNDLE_DIR") or bundle)}
    parents = {os.path.dirname(path) for path in ours}
    now, uid = time.time(), os.geteuid()
    candidates = []
    for parent in parents:
        try:
            entries = list(os.scandir(parent))
        except OSError:
            continue
        for entry in entries:
            if not entry.name.startswith(("_MEI", "staticx-")) or entry.path in ours:
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if entry.is_dir(follow_symlinks=False) and info.st_uid == uid and now - info.st_mtime > STALE_S:
                candidates.append(entry.path)
    if not candidates:
        return 0
    used = _mapped_directories(candidates)
    import shutil

    removed = 0
    for path in candidates:
        if path not in used:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _mapped_directories(candidates: list[str]) -> set[str]:
    """Those of `candidates` that some live process maps a file from (or runs from)."""
    used: set[str] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/maps", encoding="utf-8", errors="replace") as maps:
                text = maps.read()
        except OSError:
            continue
        used.update(path for path in candidates if path + "/" in text)
    return used
