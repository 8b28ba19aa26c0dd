"""write: put text into a file; atomically (temp file, fsync, rename) when not appending."""

from __future__ import annotations

import errno
import os

from hookrun.config.schema import Where, as_bool, as_nonempty_str, as_str
from hookrun.errors import ValueProblem
from hookrun.record import record
from hookrun.steps import AttemptContext, Kind, Outcome, fail, ok, retry
from hookrun.system.files import atomic_write_at, open_dir, open_regular

_PERMANENT = {errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR,
              errno.EINVAL}  # EINVAL: not a regular file (a FIFO would block)


@record
class Write:
    """The write action."""

    path: str
    text: str
    append: bool = True
    mode: int | None = None


def as_mode(value: object) -> int:
    """A file mode: 0o644 in TOML, or a string "0644"."""
    bad = ValueProblem(f'expected an octal mode like "0644" or 0o644, got {value!r}')
    if isinstance(value, bool):
        raise bad
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        digits = value.strip().removeprefix("0o")
        if not digits or any(c not in "01234567" for c in digits):
            raise bad
        number = int(digits, 8)
    else:
        raise bad
    if not 0 <= number <= 0o7777:
        raise ValueProblem(f"mode {value!r} is out of range (0000 to 7777)")
    return number


def parse(value: object, where: Where) -> Write | None:
    if not isinstance(value, dict):
        where.problem('expected a table like { path = "/tmp/x", text = "..." }')
        return None
    f = where.fields(value, ("path", "text", "append", "mode"))
    path = f.need("path", as_nonempty_str, "", "the file to write")
    text = f.need("text", as_str, "", "what to write")
    append = f.take("append", as_bool, True)
    mode = f.take("mode", as_mode, None)
    return Write(path, text, append, mode) if f.ok else None


def describe(spec: Write) -> str:
    how = "append to" if spec.append else "replace"
    return f"{how} {spec.path} ({len(spec.text.encode())} bytes)"


def attempt(spec: Write, ctx: AttemptContext) -> Outcome:
    try:
        if spec.append:
            _append(spec)
        else:
            atomic_write(spec.path, spec.text.encode(), spec.mode)
    except OSError as err:
        message = f"cannot write {spec.path}: {err.strerror}"
        return fail(message) if err.errno in _PERMANENT else retry(message)
    return ok(f"{'appended' if spec.append else 'wrote'} {len(spec.text.encode())} bytes to {spec.path}")


def _append(spec: Write) -> None:
    mode = spec.mode if spec.mode is not None else 0o644
    fd = open_regular(spec.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
    try:
        data = spec.text.encode()
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes, mode: int | None = None) -> None:
    """Write a whole file so that readers see the old content or the new, never a part."""
    directory = os.path.dirname(os.path.abspath(path))
    if mode is None:
        mode = _existing_mode(path, 0o644)
    dir_fd = open_dir(directory)
    try:
        atomic_write_at(dir_fd, os.path.basename(path), data, mode)
    finally:
        os.close(dir_fd)


def _existing_mode(path: str, default: int) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return default


WRITE: Kind[Write] = Kind("write", parse, describe, attempt, duration=lambda spec: 0.0)
