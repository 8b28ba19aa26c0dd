"""tcp: wait until a port accepts connections (open), or refuses them (closed).

`passive = true` connects to nothing: it looks for a listening socket on the port in the
kernel's TCP tables of hookrun's network namespace (in a pod: the pod's), so the server sees no
probe (its quiet or drain steps, its connection counts and access logs stay untouched).
"""

from __future__ import annotations

import errno

from hookrun.config.schema import Where, as_bool, as_host, as_port, one_of
from hookrun.config.values import format_duration
from hookrun.errors import Overrun
from hookrun.record import record
from hookrun.steps import AttemptContext, Kind, Outcome, fail, not_yet, ok, timeout
from hookrun.system import tcp_table


@record
class Tcp:
    """The tcp action."""

    port: int
    host: str = "127.0.0.1"
    state: str = "open"
    passive: bool = False


def parse(value: object, where: Where) -> Tcp | None:
    if not isinstance(value, dict):
        where.problem('expected a table like { port = 8080 } or { port = 8080, state = "closed" }')
        return None
    f = where.fields(value, ("host", "port", "state", "passive"))
    port = f.need("port", as_port, 0, "e.g. port = 8080")
    host = f.take("host", as_host, "127.0.0.1")
    state = f.take("state", one_of("open", "closed"), "open")
    passive = f.take("passive", as_bool, False)
    if passive and f.has("host"):
        f.problem("host", "a passive check looks for a listener on the port in this network "
                  "namespace, on any address: remove host, or passive")
    return Tcp(port, host, state, passive) if f.ok else None


def describe(spec: Tcp) -> str:
    if spec.passive:
        return (f"wait until {'a' if spec.state == 'open' else 'no'} socket listens on port {spec.port} "
                "here (passive: no connection made)")
    return f"wait until {_address(spec)} {'accepts' if spec.state == 'open' else 'refuses'} connections"


def _address(spec: Tcp) -> str:
    return f"[{spec.host}]:{spec.port}" if ":" in spec.host else f"{spec.host}:{spec.port}"


def attempt(spec: Tcp, ctx: AttemptContext) -> Outcome:
    if spec.passive:
        return _listener(spec)
    import socket  # here: the other kinds' hooks do not pay for its import (nor for threading's)

    from hookrun.system.bounded import call_within

    tcp: Tcp = spec
    where = _address(tcp)
    left = ctx.left()
    try:
        conn = call_within(lambda: socket.create_connection((tcp.host, tcp.port), timeout=left),
                           left, discard=socket.socket.close)
    except (Overrun, TimeoutError):
        return timeout(f"a connection to {where} neither completed nor was refused within "
                       f"{format_duration(left)} (packets dropped?)")
    except UnicodeError:  # a name the resolver cannot be asked for (as_host rejects them in the config)
        return fail(f"cannot connect to {where}: not a usable host name")
    except ConnectionRefusedError:
        if tcp.state == "closed":
            return ok(f"{where} refuses connections")
        return not_yet(f"{where} refuses connections")
    except OSError as err:
        reason = "host name not resolved" if isinstance(err, socket.gaierror) else \
            (err.strerror or errno.errorcode.get(err.errno or 0, str(err)))
        return not_yet(f"cannot connect to {where}: {reason}")
    conn.close()
    if tcp.state == "open":
        return ok(f"{where} accepts connections")
    return not_yet(f"{where} still accepts connections")


def _listener(spec: Tcp) -> Outcome:
    try:
        rows = tcp_table.on_ports((spec.port,), tcp_table.read())
        found = any(state == tcp_table.LISTEN for _, _, state in rows)
    except OSError as err:
        return fail(tcp_table.unreadable(err))
    what = f"port {spec.port}: {'a socket listens' if found else 'no socket listens'}"
    return ok(what) if found == (spec.state == "open") else not_yet(what)


TCP: Kind[Tcp] = Kind("tcp", parse, describe, attempt, polling=True, poll_interval=0.1)
