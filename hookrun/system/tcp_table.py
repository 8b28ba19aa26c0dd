"""The kernel's TCP tables of this process's network namespace (/proc/net/tcp and tcp6), which
in a pod is the pod's: what the drain, quiet and passive tcp steps read, without root or tools."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
ESTABLISHED = "01"
LISTEN = "0A"


def read(paths: Iterable[str] = TABLES) -> list[str]:
    """The rows of the tables (headers dropped); OSError when the IPv4 table cannot be read."""
    lines: list[str] = []
    for path in paths:
        try:
            with open(path, encoding="ascii", errors="replace") as table:
                lines.extend(table.readlines()[1:])
        except FileNotFoundError:  # no IPv6 in this kernel
            if path == TABLES[0]:
                raise
    return lines


def on_ports(ports: Iterable[int], lines: Iterable[str]) -> Iterator[tuple[str, str, str]]:
    """(local, remote, state) of the rows whose local port is one of `ports`. Only the first
    fields of a row are split: a busy pod's table has thousands of TIME_WAIT rows."""
    wanted = {f"{port:04X}" for port in ports}
    for line in lines:
        fields = line.split(None, 4)
        if len(fields) > 3 and fields[1].rpartition(":")[2] in wanted:
            yield fields[1], fields[2], fields[3]


def unreadable(err: OSError) -> str:
    return f"cannot read the kernel's TCP table: {err.strerror} (is /proc mounted?)"
