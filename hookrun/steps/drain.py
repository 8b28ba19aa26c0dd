"""drain: wait until established TCP connections on local ports stay at or below a maximum.

Counts from the kernel's tables of hookrun's own network namespace (/proc/net/tcp and tcp6,
state 01 = ESTABLISHED), which in a pod is the pod's: no root and no tools needed. `settle`
is tracked across the executor's re-checks (ctx.memo), so the step never sleeps.
"""

from __future__ import annotations

from collections.abc import Iterable

from hookrun.config.schema import Fields, Where, as_duration, as_port, int_range
from hookrun.config.values import format_duration
from hookrun.errors import ValueProblem
from hookrun.record import record
from hookrun.steps import AttemptContext, Kind, Outcome, fail, not_yet, ok
from hookrun.system import tcp_table


@record
class Drain:
    """The drain action."""

    ports: tuple[int, ...]
    max_connections: int = 0
    settle: float = 0.0


def parse(value: object, where: Where) -> Drain | None:
    if not isinstance(value, dict):
        where.problem('expected a table like { port = 80, max_connections = 0, settle = "2s" }')
        return None
    f = where.fields(value, ("port", "ports", "max_connections", "settle"))
    ports = ports_of(f)
    most = f.take("max_connections", int_range(0, 1_000_000), 0)
    settle = f.take("settle", as_duration, 0.0)
    return Drain(ports, most, settle) if f.ok and ports else None


def ports_of(f: Fields) -> tuple[int, ...]:
    if f.has("port") == f.has("ports"):
        f.problem(None, 'give "port" (a number) or "ports" (a list), exactly one of them')
        return ()
    if f.has("port"):
        return (f.take("port", as_port, 0),)
    return f.take("ports", _as_ports, ())


def _as_ports(value: object) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ValueProblem("expected a non-empty list of ports, e.g. [80, 443]")
    return tuple(sorted({as_port(item) for item in value}))


def describe(spec: Drain) -> str:
    one = len(spec.ports) == 1
    ports = ("port " if one else "ports ") + ", ".join(map(str, spec.ports))
    settle = f" for {format_duration(spec.settle)}" if spec.settle else ""
    return f"wait until {ports} {'has' if one else 'have'} at most " \
        f"{spec.max_connections} established connection(s){settle}"


def attempt(spec: Drain, ctx: AttemptContext) -> Outcome:
    drain: Drain = spec
    try:
        count = established(drain.ports, tcp_table.read())
    except OSError as err:
        return fail(tcp_table.unreadable(err))
    now = ctx.clock.now()
    if count > drain.max_connections:
        ctx.memo.pop("low_since", None)
        return not_yet(f"{count} established connection(s), waiting for at most {drain.max_connections}")
    low_since: float = ctx.memo.setdefault("low_since", now)
    if now - low_since < drain.settle:
        return not_yet(f"{count} established connection(s) for {format_duration(now - low_since)} "
                       f"of the {format_duration(drain.settle)} settle time")
    return ok(f"{count} established connection(s)" +
              (f" for {format_duration(drain.settle)}" if drain.settle else ""))


def established(ports: Iterable[int], lines: Iterable[str]) -> int:
    """Rows in ESTABLISHED state whose local port is one of `ports` (server side only)."""
    return sum(1 for _, _, state in tcp_table.on_ports(ports, lines) if state == tcp_table.ESTABLISHED)


DRAIN: Kind[Drain] = Kind("drain", parse, describe, attempt, polling=True, poll_interval=0.1)
