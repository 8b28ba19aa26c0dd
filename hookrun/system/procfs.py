"""The process table, read from /proc: the only place hookrun parses /proc/PID/stat.

Every question hookrun asks of it is on a hot path: its own start time (every run's budget
counts from it), PID 1's start time (the container instance key), a lock holder's identity,
the children lists the supervisor walks after every command, and the scans of signal and
wait_exit (re-run every 100 ms). One stat read per process answers each. psutil answers the
same questions 5-9 times slower (a scan of ~95 processes: 9-18 ms against 2 ms, measured)
and costs ~25 ms of start-up to import, both taken out of the grace period; hookrun uses it
where neither matters: the emulator's process trees (emulator/kubelet.py) and the self-check.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from hookrun.record import record

PF_EXITING = 0x4  # the kernel's task flag: the process has begun to exit
_Children = Callable[[int], list[int]]


@record
class Proc:
    """One process of the table."""

    pid: int
    ppid: int
    name: str  # the kernel's comm (at most 15 characters)
    zombie: bool
    started: float  # seconds after boot: orders processes by age

    def label(self) -> str:
        return f"{self.pid} ({self.name})"


# --- one process, from /proc/PID/stat ---------------------------------------------------------

def _stat_fields(pid: int) -> tuple[str, list[bytes]] | None:
    """The name and the fields after it (state is field 0) of /proc/PID/stat, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:  # gone, or not ours to read
        return None
    head, _, tail = data.rpartition(b")")
    return head.partition(b"(")[2].decode("utf-8", "replace"), tail.split()


def _stat_int(pid: int, index: int) -> int | None:
    read = _stat_fields(pid)
    try:
        return None if read is None else int(read[1][index])
    except (IndexError, ValueError):
        return None


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks after boot (/proc/PID/stat field 22)."""
    return _stat_int(pid, 19)


def parent_pid(pid: int) -> int | None:
    return _stat_int(pid, 1)


def process(pid: int) -> Proc | None:
    """One process, or None when it is gone."""
    read = _stat_fields(pid)
    if read is None:
        return None
    name, fields = read
    try:
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return Proc(pid, int(fields[1]), name, fields[0] in (b"Z", b"X"), started)
    except (IndexError, ValueError):
        return None


def exiting(pid: int) -> bool | None:
    """The process has begun to exit (a zombie, or PF_EXITING while it tears down); None: gone."""
    read = _stat_fields(pid)
    if read is None:
        return None
    fields = read[1]
    try:
        return fields[0] in (b"Z", b"X") or bool(int(fields[6]) & PF_EXITING)
    except (IndexError, ValueError):
        return None


def exe_path(pid: int) -> str | None:
    """The executable process `pid` runs, or None when it cannot be read."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def runs_program(pid: int, program: str | None) -> bool:
    """Process `pid` runs `program`: its exe is it, or (under qemu-user, where every exe is the
    emulator) it maps that file, as qemu loads the program it emulates."""
    if not program:
        return False
    if exe_path(pid) == program:
        return True
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
            return any(line.rstrip("\n").endswith(" " + program) for line in maps)
    except OSError:
        return False


def lineage(me: int) -> frozenset[int]:
    """`me` and its ancestors (in a container the chain ends at a parent outside it: ppid 0)."""
    found = {me}
    ppid = parent_pid(me)
    while ppid is not None and ppid > 0 and ppid not in found:
        found.add(ppid)
        ppid = parent_pid(ppid)
    return frozenset(found)


def process_age() -> float:
    """Seconds since this process was started, as the OS recorded it.

    Used so that the prestop budget includes interpreter and bundle start-up time. A frozen
    build counts from its first process: the one-file bootloader that unpacked us (our parent,
    running the same file) and, in the static build, the staticx launcher above it.
    """
    started = start_ticks(_bundle_root_pid())
    if started is None:
        return 0.0
    uptime = time.clock_gettime(time.CLOCK_BOOTTIME)
    return max(0.0, uptime - started / os.sysconf("SC_CLK_TCK"))


def _bundle_root_pid() -> int:
    """Our pid, or that of the outermost launcher of our bundle."""
    pid = os.getpid()
    if not getattr(sys, "frozen", False):
        return pid
    launchers = (os.environ.get("_PYI_ARCHIVE_FILE") or sys.executable, os.environ.get("STATICX_PROG_PATH"))
    for _ in range(2):  # one-file bootloader, then the staticx launcher
        parent = parent_pid(pid)
        if not parent or not any(runs_program(parent, launcher) for launcher in launchers):
            break
        pid = parent
    return pid


# --- process trees, from the kernel's children lists ------------------------------------------

def descendants(pid: int) -> list[int]:
    """Every process below `pid`. The kernel's per-task children lists answer this without a
    scan of the whole table (the supervisor asks after every command); a full scan is the
    fallback for kernels without them."""
    children = _children_lists if os.path.exists(f"/proc/{pid}/task/{pid}/children") \
        else _parent_map()
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = children(todo.pop())
        found.extend(kids)
        todo.extend(kids)
    return found


def _children_lists(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as handle:
                kids.extend(int(word) for word in handle.read().split())
        except OSError:
            continue
    return kids


def _parent_map() -> _Children:
    by_parent: dict[int, list[int]] = {}
    for proc in processes():
        by_parent.setdefault(proc.ppid, []).append(proc.pid)
    return lambda parent: by_parent.get(parent, [])


def processes() -> list[Proc]:
    """Every process visible here, kernel threads included."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            proc = process(int(entry))
            if proc is not None:
                found.append(proc)
    return found


def raw_cmdline(pid: int) -> bytes:
    """The arguments, each ended by a NUL byte; empty for kernel threads, zombies and the gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def cmdline(pid: int) -> str:
    """The full command line, arguments joined by spaces; empty for kernel threads and zombies."""
    return raw_cmdline(pid).rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")


def named(proc: Proc, name: str) -> bool:
    """Exact process name (comm, which the kernel cuts to 15 characters) or argv[0] basename."""
    if proc.name == name:
        return True
    argv0 = raw_cmdline(proc.pid).split(b"\0", 1)[0]
    return os.path.basename(argv0.decode("utf-8", "replace")) == name
