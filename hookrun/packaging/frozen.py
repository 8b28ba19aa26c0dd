"""What the builds that unpack themselves (one-file and static) need at start.

The Python process of a one-file build is the child of the PyInstaller bootloader that
unpacked it to a temporary directory (_MEIxxxxxx); that of the static build is the child of the
staticx launcher that unpacked the one-dir tree, the loader and the C libraries
(staticx-xxxxxx). When a launcher is SIGKILLed (what a container runtime does to an exec it
gives up on), it cannot forward anything or clean up: this process would run on as an orphan,
and what it unpacked would stay on disk.

- The launchers, patched (build/launcher-patches.py), ask the kernel for a SIGTERM to hookrun
  when they die (PR_SET_PDEATHSIG, in the forked child before it execs: hookrun needs no ctypes
  for it, 2 ms of every start). hookrun handles the SIGTERM like any other (its commands are
  stopped, exit 143); bind_to_launcher() makes it remove, on the way out, what the dead launcher
  can no longer remove. `version --check` proves the request is in place.
- sweep_leftovers() removes what launchers killed before hookrun could start left behind (a
  SIGKILL while the launcher unpacks): _MEI and staticx directories next to ours that no live
  process uses. A crash-looping container on a size-limited emptyDir does not fill it.

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

from hookrun.system.procfs import runs_program

STALE_S = 5.0  # a bundle directory younger than this may belong to a hookrun still unpacking


def bind_to_launcher() -> bool:
    """Remove what the launcher unpacked if it dies before this process ends; False for a build
    that unpacks nothing (one-dir, or not frozen)."""
    unpacked = launcher_dir()
    if unpacked is None:
        return False
    directory, program = unpacked
    launcher = os.getppid()
    atexit.register(_remove_if_orphaned, directory, launcher)
    if not runs_program(launcher, program):  # gone before its SIGTERM request: we were re-parented
        os.kill(os.getpid(), signal.SIGTERM)
    return True


def launcher_dir() -> tuple[str, str] | None:
    """The directory this process was unpacked to, and the program of the launcher that did
    it; None when nothing was unpacked."""
    bundle = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or not bundle:
        return None
    staticx_dir, staticx_program = os.environ.get("STATICX_BUNDLE_DIR"), os.environ.get("STATICX_PROG_PATH")
    if staticx_dir and staticx_program and bundle.startswith(staticx_dir.rstrip(os.sep) + os.sep):
        return staticx_dir, staticx_program
    if os.path.basename(bundle).startswith("_MEI") and not bundle.startswith(
            os.path.dirname(os.path.realpath(sys.executable)) + os.sep):
        return bundle, os.environ.get("_PYI_ARCHIVE_FILE") or sys.executable
    return None


def _remove_if_orphaned(directory: str, launcher: int) -> None:
    if os.getppid() != launcher:  # nobody else is left to remove it
        import shutil

        shutil.rmtree(directory, ignore_errors=True)


def sweep_leftovers() -> int:
    """Remove _MEI and staticx directories beside ours that launchers killed early left (no live
    process maps a file from them); how many. Reads /proc only when there is a candidate."""
    unpacked = launcher_dir()
    if unpacked is None:
        return 0
    ours = os.path.realpath(unpacked[0])
    now, uid = time.time(), os.geteuid()
    candidates = []
    try:
        entries = list(os.scandir(os.path.dirname(ours)))
    except OSError:
        entries = []
    for entry in entries:
        if not entry.name.startswith(("_MEI", "staticx-")) or entry.path == ours:
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
