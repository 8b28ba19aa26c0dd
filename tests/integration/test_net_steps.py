"""tcp and drain against real listeners and real held-open client connections."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import free_port, later, write_config
from support import ROOT
from support.cli import run_hookrun
from support.servers import Listener

Listen = Callable[..., Listener]


def one_step(tmp_path: Path, action: str, extra: str = "") -> Path:
    text = f'[run]\ntimeout = "20s"\n[[run.steps]]\nname = "check"\n{action}\n{extra}\n'
    return write_config(tmp_path, text)


def test_tcp_open_waits_for_the_listener(tmp_path: Path, listen: Listen) -> None:
    port = free_port()
    later(1.0, lambda: listen(port=port))
    config = one_step(tmp_path, f"tcp = {{ port = {port} }}", 'timeout = "5s"')
    result = run_hookrun(config, "run", "run")
    assert result.code == 0, result.out
    assert f"check: ok: 127.0.0.1:{port} accepts connections" in result.out
    assert 0.9 <= result.seconds <= 3.0


def test_tcp_closed_waits_until_refused(tmp_path: Path, listen: Listen) -> None:
    listener = listen()
    later(1.0, listener.close)
    config = one_step(tmp_path, f'tcp = {{ port = {listener.port}, state = "closed" }}', 'timeout = "5s"')
    result = run_hookrun(config, "run", "run")
    assert result.code == 0, result.out
    assert f"check: ok: 127.0.0.1:{listener.port} refuses connections" in result.out
    assert 0.9 <= result.seconds <= 3.0


def test_tcp_passive_watches_the_listener_without_connecting(tmp_path: Path, listen: Listen) -> None:
    """passive: the kernel's tables say whether something listens; the server sees no probe."""
    v4, v6 = listen(), listen("::1")
    later(1.0, v4.close)
    later(1.0, v6.close)
    config = write_config(tmp_path, f'''
[run]
[[run.steps]]
name = "up"
tcp = {{ port = {v6.port}, passive = true }}
[[run.steps]]
name = "down-v4"
tcp = {{ port = {v4.port}, state = "closed", passive = true }}
timeout = "5s"
[[run.steps]]
name = "down-v6"
tcp = {{ port = {v6.port}, state = "closed", passive = true }}
timeout = "5s"
''')
    result = run_hookrun(config, "run", "run")
    assert result.code == 0, result.out
    assert f"up: ok: port {v6.port}: a socket listens" in result.out
    assert f"down-v4: start: wait until no socket listens on port {v4.port} here (passive: no connection made)" \
        in result.out
    assert f"down-v4: ok: port {v4.port}: no socket listens" in result.out
    assert f"down-v6: ok: port {v6.port}: no socket listens" in result.out
    assert 0.9 <= result.seconds <= 3.0
    assert v4.accepted == [] and v6.accepted == []  # nothing connected to them


def test_tcp_passive_takes_no_host(tmp_path: Path) -> None:
    config = one_step(tmp_path, 'tcp = { host = "127.0.0.2", port = 80, passive = true }')
    result = run_hookrun(config, "validate")
    assert result.code == 2, result.out
    assert 'key "host": a passive check looks for a listener on the port in this network namespace' in result.out


def test_tcp_ipv6_and_a_bounded_wait_for_nothing(tmp_path: Path, listen: Listen) -> None:
    v6 = listen("::1")
    config = write_config(tmp_path, f'''
[run]
on_failure = "continue"
[[run.steps]]
name = "v6"
tcp = {{ host = "::1", port = {v6.port} }}
[[run.steps]]
name = "never"
tcp = {{ port = {free_port()} }}
timeout = "1s"
''')
    result = run_hookrun(config, "run", "run")
    assert result.code == 1, result.out
    assert f"v6: ok: [::1]:{v6.port} accepts connections" in result.out
    assert "never: timeout: 127.0.0.1:" in result.out and "refuses connections; step timeout 1s" in result.out
    assert 1.0 <= result.seconds <= 3.0


def test_tcp_connect_that_never_completes_is_bounded(tmp_path: Path, netns: str) -> None:
    """Inside our own namespace, SYNs to port 9 are dropped: connect() would hang for minutes."""
    config = one_step(tmp_path, "tcp = { port = 9 }", 'timeout = "1s"')
    started = time.monotonic()
    done = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-m", "hookrun", "--config",
                           str(config), "--log-target", "stderr", "run", "run"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30, env={**os.environ})
    seconds = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert "neither completed nor was refused within" in done.stderr
    assert 1.0 <= seconds <= 2.5


def test_drain_waits_for_held_connections_to_close(tmp_path: Path, listen: Listen) -> None:
    server, other = listen(), listen()
    clients = server.connect(3)
    unrelated = other.connect(2)  # connections on another port do not count
    later(0.8, clients[0].close)
    later(1.2, lambda: [c.close() for c in clients[1:]])
    config = one_step(tmp_path, f"drain = {{ port = {server.port} }}", 'timeout = "6s"')
    result = run_hookrun(config, "run", "run")
    assert result.code == 0, result.out
    assert "check: ok: 0 established connection(s)" in result.out
    assert 1.1 <= result.seconds <= 3.0
    for c in unrelated:
        c.close()


def test_drain_max_and_settle(tmp_path: Path, listen: Listen) -> None:
    """Low (<= 1) from 0.5 s, up again at 1.0 s, low for good from 1.5 s; settle 1 s: done at ~2.5 s."""
    server = listen()
    clients = server.connect(2)
    later(0.5, clients[0].close)
    late: list[list[socket.socket]] = []
    later(1.0, lambda: late.append(server.connect(1)))
    later(1.5, lambda: [c.close() for c in clients[1:] + late[0]])
    config = one_step(tmp_path, f'drain = {{ ports = [{server.port}, {free_port()}], max_connections = 1, '
                      'settle = "1s" }', 'timeout = "8s"')
    result = run_hookrun(config, "run", "run")
    assert result.code == 0, result.out
    assert "check: ok:" in result.out and "established connection(s) for 1s" in result.out
    assert 2.4 <= result.seconds <= 4.5


def test_drain_counts_ipv6_and_times_out(tmp_path: Path, listen: Listen) -> None:
    server = listen("::1")
    clients = server.connect(2)
    config = one_step(tmp_path, f"drain = {{ port = {server.port} }}", 'timeout = "1s"')
    result = run_hookrun(config, "run", "run")
    assert result.code == 1, result.out
    assert "check: timeout: 2 established connection(s), waiting for at most 0" in result.out
    assert 1.0 <= result.seconds <= 2.5
    for c in clients:
        c.close()


@pytest.mark.parametrize(("table", "expected"), [
    ("   0: 0100007F:0050 0100007F:D431 01 0:0 00:0 0 0 0 1", 1),  # server side of :80
    ("   1: 0100007F:D431 0100007F:0050 01 0:0 00:0 0 0 0 1", 0),  # client side: not counted
    ("   2: 00000000:0050 00000000:0000 0A 0:0 00:0 0 0 0 1", 0),  # the listener itself
    ("   3: 0100007F:0050 0100007F:D432 06 0:0 00:0 0 0 0 1", 0),  # TIME_WAIT
    ("   4: 00000000000000000000000001000000:01BB 00000000000000000000000001000000:9C40 01 0:0", 1),
])
def test_established_rows(table: str, expected: int) -> None:
    from hookrun.steps.drain import established

    assert established([80, 443], [table]) == expected


def _new_connections(server: Listener, until: float, every: float = 0.1) -> None:
    """A fresh short connection every `every` seconds until monotonic time `until`."""
    while time.monotonic() < until:
        conn = socket.create_connection((server.host, server.port), timeout=5)
        time.sleep(0.05)
        conn.close()
        time.sleep(every - 0.05)


def test_quiet_waits_until_new_connections_stop(tmp_path: Path, listen: Listen) -> None:
    """Traffic goes on 2 s; min 1 s, quiet 600 ms: done about 600 ms after the last connection."""
    import threading

    server = listen()
    stop = time.monotonic() + 2.0
    traffic = threading.Thread(target=_new_connections, args=(server, stop))
    traffic.start()
    config = one_step(tmp_path, f'quiet = {{ port = {server.port}, min = "1s", quiet = "600ms" }}',
                      'timeout = "8s"')
    result = run_hookrun(config, "run", "run")
    ended = time.monotonic()
    traffic.join(5)
    assert result.code == 0, result.out
    assert 0.6 - 0.2 <= ended - stop <= 0.6 + 1.5, (ended - stop, result.out)
    assert "check: ok:" in result.out and "new connection(s) since the start, none in the last " in result.out


def test_quiet_is_not_held_up_by_open_keepalive_connections_and_min_is_a_floor(tmp_path: Path,
                                                                              listen: Listen) -> None:
    """A keep-alive client sends all the time on one connection (drain would wait for it to close):
    no new connection, so the step ends at its floor."""
    import threading

    server = listen()
    client = server.connect(1)[0]
    done = threading.Event()

    def chatter() -> None:
        while not done.wait(0.05):
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")

    thread = threading.Thread(target=chatter)
    thread.start()
    try:
        config = one_step(tmp_path, f'quiet = {{ ports = [{server.port}], min = "1500ms", quiet = "200ms" }}',
                          'timeout = "8s"')
        result = run_hookrun(config, "run", "run")
    finally:
        done.set()
        thread.join(5)
        client.close()
    assert result.code == 0, result.out
    assert "check: ok: 0 new connection(s) since the start, none in the last " in result.out, result.out
    assert 1.5 <= result.seconds <= 1.5 + 2.5


def test_quiet_counts_each_connection_once_from_handshake_to_time_wait(tmp_path: Path) -> None:
    """Each connection is held 300 ms by the server, then closed by it (TIME_WAIT on the
    server's side): the looks see it ESTABLISHED, then in TIME_WAIT with another socket inode,
    and count it once. The step ends `quiet` after the last one."""
    import threading

    def hold_then_close(conn: socket.socket) -> None:
        time.sleep(0.3)
        conn.close()

    server = Listener(handle=hold_then_close)
    count, spacing, first = 6, 0.2, 1.0

    def clients() -> None:
        time.sleep(first)  # hookrun has taken its first look by then
        held = []
        for _ in range(count):
            held.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            time.sleep(spacing)
        time.sleep(0.5)
        for conn in held:  # after the server's close: its side goes from FIN_WAIT2 to TIME_WAIT
            conn.close()

    traffic = threading.Thread(target=clients)
    try:
        traffic.start()
        config = one_step(tmp_path, f'quiet = {{ port = {server.port}, min = "1s", quiet = "800ms" }}',
                          'timeout = "10s"')
        result = run_hookrun(config, "run", "run")
    finally:
        traffic.join(10)
        server.close()
    assert result.code == 0, result.out
    counted = re.search(r"check: ok: (\d+) new connection\(s\) since the start", result.out)
    assert counted is not None, result.out
    assert count - 1 <= int(counted.group(1)) <= count, result.out  # never twice (was up to 2 x count)
    last = first + (count - 1) * spacing + 0.3  # the server closes the last one
    assert last + 0.8 - 0.4 <= result.seconds <= last + 0.8 + 2.0, result.out


def test_quiet_needs_a_floor(tmp_path: Path) -> None:
    config = one_step(tmp_path, 'quiet = { port = 80, quiet = "1s" }')
    result = run_hookrun(config, "validate")
    assert result.code == 2, result.out
    assert 'missing key "min" (the longest endpoint removal takes in the cluster, e.g. min = "5s")' in result.out
