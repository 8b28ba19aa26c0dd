"""tcp and drain against real listeners and real held-open client connections."""

from __future__ import annotations

import os
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
