"""Which processes a signal or wait_exit step means: pid, pidfile, process name, or cmdline regex.

Read straight from /proc (one read of /proc/PID/stat per process, the command line only when
needed), so a re-check costs a few milliseconds. hookrun never targets itself, its ancestors or
its own helper processes (the runtime's protected_pids); zombies count as exited, never match.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from hookrun.schema import Fields, as_nonempty_str, int_range

TARGET_KEYS = ("pid", "pidfile", "process", "cmdline")


@dataclass(frozen=True)
class Target:
    key: str  # one of TARGET_KEYS
    value: str  # as written ("1234", "/run/nginx.pid", "nginx", "^gunicorn: master")

    def describe(self) -> str:
        if self.key == "pid":
            return f"pid {self.value}"
        if self.key == "pidfile":
            return f"the pid in {self.value}"
        if self.key == "process":
            return f"processes named {self.value}"
        return f"processes whose command line matches {self.value!r}"


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    name: str  # the kernel's comm (at most 15 characters)
    zombie: bool
    started: int  # clock ticks after boot: orders processes by age

    def label(self) -> str:
        return f"{self.pid} ({self.name})"


@dataclass(frozen=True)
class Found:
    procs: tuple[Proc, ...]  # live matches, oldest first
    problem: str | None = None  # the target cannot be resolved (bad pidfile, protected pid)


def listed(labels: list[str]) -> str:
    """"pid 12 (nginx)" or "3 processes: pids 12 (nginx), 13 (nginx), 14 (nginx)"."""
    shown = ", ".join(labels[:5]) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
    return f"pid {shown}" if len(labels) == 1 else f"{len(labels)} processes: pids {shown}"


def parse_target(f: Fields) -> Target | None:
    """Exactly one of the target keys from the table being read by `f`."""
    given = [key for key in TARGET_KEYS if f.has(key)]
    if len(given) != 1:
        what = "no target" if not given else "more than one target (" + ", ".join(given) + ")"
        f.problem(None, f"{what}: give exactly one of pid, pidfile, process, cmdline")
        return None
    key = given[0]
    value = str(f.take(key, _as_pid, 0)) if key == "pid" else f.take(key, as_nonempty_str, "")
    if key == "cmdline" and value:
        try:
            re.compile(value)
        except re.error as err:
            f.problem("cmdline", f"not a valid regular expression: {err}")
    return Target(key, value) if f.ok else None


def _as_pid(value: object) -> int:
    """A pid: a number, or a string of digits (what a template like "${APP_PID}" gives)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return int_range(1, 2**22)(value)


def find(target: Target, protected: frozenset[int]) -> Found:
    """The live processes `target` means now, never hookrun, its ancestors or `protected`.

    `protected` holds hookrun's own helper processes (the runtime's protected_pids).
    """
    shielded = protected | _lineage(os.getpid())
    if target.key in ("pid", "pidfile"):
        pid, problem = _explicit_pid(target)
        if problem is not None or pid is None:
            return Found((), problem)
        if pid in shielded:
            return Found((), f"pid {pid} is hookrun itself, one of its ancestors or one of its "
                         "own processes: hookrun never targets those")
        proc = _stat(pid)
        return Found(() if proc is None or proc.zombie else (proc,))
    procs = scan()
    if target.key == "process":
        matches = [p for p in procs if _named(p, target.value)]
    else:
        pattern = re.compile(target.value)
        lines = ((p, _cmdline(p.pid)) for p in procs)
        matches = [p for p, line in lines if line and pattern.search(line)]  # no kernel threads
    live = [p for p in matches if not p.zombie and p.pid not in shielded]
    return Found(tuple(sorted(live, key=lambda p: (p.started, p.pid))))


def scan() -> list[Proc]:
    procs = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            proc = _stat(int(entry))
            if proc is not None:
                procs.append(proc)
    return procs


def _stat(pid: int) -> Proc | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:  # gone since the directory was listed
        return None
    head, _, tail = data.rpartition(b")")
    name = head.partition(b"(")[2].decode("utf-8", "replace")
    fields = tail.split()
    try:
        return Proc(pid, int(fields[1]), name, fields[0] in (b"Z", b"X"), int(fields[19]))
    except (IndexError, ValueError):
        return None


def _raw_cmdline(pid: int) -> bytes:
    """The arguments, each ended by a NUL byte; empty for kernel threads, zombies and the gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _cmdline(pid: int) -> str:
    """The full command line, arguments joined by spaces; empty for kernel threads and zombies."""
    return _raw_cmdline(pid).rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")


def _named(proc: Proc, name: str) -> bool:
    """Exact process name (comm, which the kernel cuts to 15 characters) or argv[0] basename."""
    if proc.name == name:
        return True
    argv0 = _raw_cmdline(proc.pid).split(b"\0", 1)[0]
    return os.path.basename(argv0.decode("utf-8", "replace")) == name


def _lineage(me: int) -> frozenset[int]:
    """`me` and its ancestors (in a container the chain ends at a parent outside it: ppid 0)."""
    lineage = {me}
    proc = _stat(me)
    while proc is not None and proc.ppid > 0 and proc.ppid not in lineage:
        lineage.add(proc.ppid)
        proc = _stat(proc.ppid)
    return frozenset(lineage)


def _explicit_pid(target: Target) -> tuple[int | None, str | None]:
    if target.key == "pid":
        return int(target.value), None
    try:
        with open(target.value, "rb") as handle:
            text = handle.read(64).decode("ascii", "replace").strip()
    except FileNotFoundError:
        return None, None  # no pidfile: nothing runs
    except OSError as err:
        return None, f"cannot read pidfile {target.value}: {err.strerror}"
    if not text:
        return None, None  # written but still empty, or emptied on exit
    if not text.isdigit() or int(text) <= 0:
        return None, f"pidfile {target.value} does not hold a pid (it starts with {text[:12]!r})"
    return int(text), None
