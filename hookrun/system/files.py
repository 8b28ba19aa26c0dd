"""Whole-file writes that a crash cannot leave half done: temp file, fsync, rename, fsync the dir."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time

TEMP_SUFFIX = ".hookrun-tmp"


def atomic_write_at(dir_fd: int, name: str, data: bytes, mode: int) -> None:
    """Replace `name` in the directory `dir_fd` with `data`: readers see the old file or the new.

    The data goes into an unnamed file (O_TMPFILE) that a SIGKILL makes vanish; only when it is
    complete and synced does it get a name (linkat), at once renamed over `name`. Where the
    filesystem has no O_TMPFILE, a named temp file is used, and temp files of `name` that a
    killed writer left are swept first. The rename replaces a symlink at `name`, never
    follows it.
    """
    temp = f".{name}.{os.urandom(6).hex()}{TEMP_SUFFIX}"
    try:
        fd = os.open(".", os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
        named = False
    except OSError:  # EOPNOTSUPP (no O_TMPFILE here), EISDIR (an old kernel)
        sweep_temp(dir_fd, name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
        fd, named = os.open(temp, flags, 0o600, dir_fd=dir_fd), True
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)
            os.fsync(fd)
            if not named:  # it gets a name only now, complete
                os.link(f"/proc/self/fd/{fd}", temp, dst_dir_fd=dir_fd, follow_symlinks=True)
                named = True
        finally:
            os.close(fd)
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        if named:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
        raise
    with contextlib.suppress(OSError):
        os.fsync(dir_fd)


STALE_TEMP_S = 60.0  # a temp file this old belongs to a writer that was killed


def sweep_temp(dir_fd: int, name: str | None = None) -> None:
    """Remove temp files (of `name`, or of any file) that killed writers left in `dir_fd`."""
    prefix = f".{name}." if name is not None else "."
    now = time.time()
    with contextlib.suppress(OSError), os.scandir(dir_fd) as entries:
        for entry in entries:
            if entry.name.startswith(prefix) and entry.name.endswith(TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    if now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMP_S:
                        os.unlink(entry.name, dir_fd=dir_fd)


def open_regular(path: str, flags: int, mode: int = 0o644, dir_fd: int | None = None) -> int:
    """os.open that never blocks and only opens a regular file: a FIFO without a reader (or
    with one), a device or a socket at `path` is refused with OSError, at once."""
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as err:
        if err.errno == errno.ENXIO:  # opened for writing: a FIFO with no reader
            raise OSError(errno.EINVAL, "is a FIFO, not a regular file") from None
        raise
    try:
        info = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        what = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a socket" \
            if stat.S_ISSOCK(info.st_mode) else "a device"
        raise OSError(errno.EINVAL, f"is {what}, not a regular file")
    return fd


def read_regular(path: str, limit: int) -> bytes:
    """A regular file's content, at most `limit` bytes (OSError EFBIG when it is larger)."""
    fd = open_regular(path, os.O_RDONLY)
    try:
        if os.fstat(fd).st_size > limit:
            raise OSError(errno.EFBIG, f"is larger than {limit >> 10} KiB")
        chunks, size = [], 0
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # grew while being read
                raise OSError(errno.EFBIG, f"is larger than {limit >> 10} KiB")
        return b"".join(chunks)
    finally:
        os.close(fd)


def open_dir(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
