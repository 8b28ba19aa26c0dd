"""quiet: wait until no new connection has arrived on the app's ports for a while, and never
less than a floor: the endpoint-race wait where the Kubernetes API cannot be read.

What it measures and why (bench/termination.py, README "Rollouts"): new connections, not open
ones. Once every proxy has taken the pod out of rotation no new connection arrives, but
keep-alive connections stay open and busy until the server closes them, so "no open
connection" (drain) may never come while the pod is already out of rotation, and is reached
early when traffic is sparse while it is still in. Silence alone is no proof either: at a few
requests per second a second without a new connection happens while the endpoint is live.
Hence the floor `min`: set it to the longest the endpoint removal takes in the cluster (the
worst case D); the step ends at max(min, last new connection + `quiet`), so it is never
shorter than D, and longer only while new connections keep coming.

New connections are read from the kernel's TCP tables of hookrun's network namespace (the
pod's): a row on one of `ports` whose local/remote address pair was not there at the previous
look, in any state but LISTEN. The pair, not the socket: a connection keeps its pair from the
handshake (SYN_RECV, then ESTABLISHED in the accept queue, then accepted) to its end (TIME_WAIT
for 60 s when the server closed it), so it is counted once, and one that opened and closed
between two looks is still seen as long as its TIME_WAIT row is. Looks are 50 ms apart: the
table holds every socket of the pod, TIME_WAIT included (12,000 rows after a minute at 200
new connections a second), and reading it is the step's whole cost (about 16 ms for 7,700
rows here). A connection the client closed first leaves no row behind on the server's side:
one that opened and closed between two looks is missed, which can only end the wait earlier,
and never before `min`.
"""

from __future__ import annotations

from hookrun.config.schema import Where, as_duration
from hookrun.config.values import format_duration
from hookrun.record import record
from hookrun.steps import AttemptContext, Kind, Outcome, fail, not_yet, ok
from hookrun.steps.drain import ports_of
from hookrun.system import tcp_table


@record
class Quiet:
    """The quiet action."""

    ports: tuple[int, ...]
    min: float
    quiet: float = 1.0


def parse(value: object, where: Where) -> Quiet | None:
    if not isinstance(value, dict):
        where.problem('expected a table like { port = 80, min = "5s", quiet = "1s" }')
        return None
    f = where.fields(value, ("port", "ports", "min", "quiet"))
    ports = ports_of(f)
    floor = f.need("min", as_duration, 0.0,
                   'the longest endpoint removal takes in the cluster, e.g. min = "5s"')
    quiet = f.take("quiet", as_duration, 1.0)
    return Quiet(ports, floor, quiet) if f.ok and ports else None


def describe(spec: Quiet) -> str:
    ports = ("port " if len(spec.ports) == 1 else "ports ") + ", ".join(map(str, spec.ports))
    return (f"wait until no new connection on {ports} for {format_duration(spec.quiet)}, "
            f"and at least {format_duration(spec.min)}")


def connections(ports: tuple[int, ...], lines: list[str]) -> set[tuple[str, str]]:
    """(local, remote) of every socket on `ports` that is not a listener."""
    return {(local, remote) for local, remote, state in tcp_table.on_ports(ports, lines)
            if state != tcp_table.LISTEN}


def attempt(spec: Quiet, ctx: AttemptContext) -> Outcome:
    try:
        now_seen = connections(spec.ports, tcp_table.read())
    except OSError as err:
        return fail(tcp_table.unreadable(err))
    now = ctx.clock.now()
    started: float = ctx.memo.setdefault("started", now)
    seen: set[tuple[str, str]] | None = ctx.memo.get("seen")
    new = len(now_seen - seen) if seen is not None else 0  # the first look: nothing is new
    ctx.memo["seen"] = now_seen
    ctx.memo["new"] = ctx.memo.get("new", 0) + new
    if new:
        ctx.memo["last_new"] = now
    last: float = ctx.memo.get("last_new", started)
    until = max(started + spec.min, last + spec.quiet)
    counted = f"{ctx.memo['new']} new connection(s) since the start"
    if now < until:
        return not_yet(f"{counted}, the last {format_duration(now - last)} ago; waiting until "
                       f"{format_duration(until - started)} after the start")
    return ok(f"{counted}, none in the last {format_duration(now - last)}")


QUIET: Kind[Quiet] = Kind("quiet", parse, describe, attempt, polling=True, poll_interval=0.05)
