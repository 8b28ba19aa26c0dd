"""Whole-file writes that a crash cannot leave half done: temp file, fsync, rename, fsync the dir."""

from __future__ import annotations

import contextlib
import os

TEMP_SUFFIX = ".hookrun-tmp"


def atomic_write_at(dir_fd: int, name: str, data: bytes, mode: int) -> None:
    """Replace `name` in the directory `dir_fd` with `data`: readers see the old file or the new.

    The temp file has an unpredictable name and is created exclusively, never through a
    symlink; the rename replaces a symlink at `name` instead of following it.
    """
    temp = f".{name}.{os.urandom(6).hex()}{TEMP_SUFFIX}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(temp, flags, 0o600, dir_fd=dir_fd)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=dir_fd)
        raise
    with contextlib.suppress(OSError):
        os.fsync(dir_fd)


def open_dir(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
