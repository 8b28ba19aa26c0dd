"""config/nginx.toml against a real nginx: in-flight requests finish, no new connection is
accepted after QUIT, every nginx process is gone when hookrun returns, and it returns promptly."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import nginx_argv, wait_accepting
from support import ROOT

from hookrun.system.procfs import processes as scan

SIZE = 1_000_000  # bytes; at 256 KiB/s about 3.8 s in flight


@dataclass
class Nginx:
    name: str  # the process name every nginx process of this instance has
    port: int
    prefix: Path
    proc: subprocess.Popen[bytes]

    def processes(self) -> list[int]:
        return [p.pid for p in scan() if p.name == self.name and not p.zombie]


@pytest.fixture
def nginx(tmp_path: Path, unique: str) -> Iterator[Nginx]:
    prefix = tmp_path / "nginx"
    argv, port = nginx_argv(prefix, unique)  # every process of this nginx is named `unique`
    (prefix / "html/slow").mkdir()
    (prefix / "html/slow/big.bin").write_bytes(os.urandom(SIZE))
    proc = subprocess.Popen(argv, start_new_session=True)
    server = Nginx(unique, port, prefix, proc)
    try:
        wait_accepting(port, lambda: proc.poll() is None, (prefix / "error.log").read_text)
        assert (prefix / "nginx.pid").exists()
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        proc.wait(timeout=10)
        for pid in server.processes():  # workers, if the master died first
            os.kill(pid, 9)


@dataclass
class Download:
    """GET /slow/big.bin on a connection of its own, read to the end in a thread."""

    port: int
    received: int = 0
    started: threading.Event = field(default_factory=threading.Event)
    ended_at: float = 0.0

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as conn:
            conn.sendall(b"GET /slow/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
                self.started.set()
            self.ended_at = time.monotonic()
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        self.received = len(body)


def read_lines(stream: Callable[[], str], into: list[tuple[float, str]]) -> None:
    while line := stream():
        into.append((time.monotonic(), line.rstrip("\n")))


def test_graceful_nginx_shutdown(tmp_path: Path, nginx: Nginx) -> None:
    download = Download(nginx.port)
    client = threading.Thread(target=download.run, daemon=True)
    client.start()
    assert download.started.wait(5)
    env = {**os.environ, "NGINX_PORT": str(nginx.port), "NGINX_PIDFILE": str(nginx.prefix / "nginx.pid"),
           "NGINX_PROCESS": nginx.name, "ENDPOINT_GRACE": "200ms", "KUBERNETES_SERVICE_HOST": "",
           "HOOKRUN_STATE_DIR": str(tmp_path / "state"), "HOOKRUN_GRACE_PERIOD": "20s"}
    started = time.monotonic()
    hookrun = subprocess.Popen([sys.executable, "-m", "hookrun", "--config", str(ROOT / "config/nginx.toml"),
                                "--log-target", "stderr", "prestop"], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[tuple[float, str]] = []
    assert hookrun.stdout is not None
    reader = threading.Thread(target=read_lines, args=(hookrun.stdout.readline, lines), daemon=True)
    reader.start()
    quit_at = probe_after_quit(lines, hookrun, nginx.port, download)
    code = hookrun.wait(timeout=30)
    ended = time.monotonic()
    reader.join(5)
    client.join(10)
    out = "\n".join(line for _, line in lines)
    assert code == 0, out
    # not in a pod: the endpoint-aware wait fails at once and the traffic-based one takes over;
    # the download is a connection open before it started, not a new one: quiet after 1 s
    assert "endpoint-race: failed: not in a Kubernetes pod" in out
    assert "quiet-instead: ok: 0 new connection(s) since the start, none in the last " in out
    assert quit_at is not None and 1.0 <= quit_at - started <= 4.0, out
    # the request in flight at QUIT was completed, byte for byte
    assert download.received == SIZE
    assert download.ended_at > quit_at + 0.5
    # every nginx process is gone when hookrun returns (zombies count as gone)
    assert nginx.processes() == []
    # and hookrun returned promptly: not before nginx was done, not long after
    assert download.ended_at - 0.5 <= ended <= download.ended_at + 1.0, out
    assert re.search(r"wait-exit: ok: [23] processes exited", out), out  # master, busy worker(s)


def probe_after_quit(lines: list[tuple[float, str]], hookrun: subprocess.Popen[str], port: int,
                     download: Download) -> float | None:
    """Wait for the QUIT to be sent, then try new connections until the download ends:
    from 300 ms after QUIT (nginx closes its listeners) every one of them must be refused."""
    quit_at = None
    for _ in range(3000):
        quit_at = next((t for t, line in lines if "prestop quit: ok: sent SIGQUIT" in line), None)
        if quit_at is not None or hookrun.poll() is not None:
            break
        time.sleep(0.005)
    if quit_at is None:
        return None
    refused = 0
    while not download.ended_at and time.monotonic() < quit_at + 15:
        now = time.monotonic()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            assert now < quit_at + 0.3, f"a new connection was accepted {now - quit_at:.3f}s after QUIT"
        except ConnectionRefusedError:
            refused += now >= quit_at + 0.3
        time.sleep(0.05)
    assert refused >= 10, f"only {refused} probes while the download was still running"
    return quit_at


@pytest.mark.parametrize("grace", [5, 10, 30])
def test_shipped_config_quits_nginx_within_any_grace_period(tmp_path: Path, unique: str, grace: int) -> None:
    """The shipped defaults, a download in flight: QUIT always goes out and nginx is gone before
    the budget ends (grace - 2 s); the download completes where the time left allows it."""
    budget = grace - 2.0
    prefix = tmp_path / "nginx"
    argv, port = nginx_argv(prefix, unique)
    conf = prefix / "nginx.conf"  # connections still open this long after QUIT are closed
    conf.write_text(f"worker_shutdown_timeout {int(budget) - 1}s;\n" + conf.read_text())
    (prefix / "html/slow").mkdir()
    size = 1_600_000  # about 6.1 s at 256 KiB/s: in flight at QUIT with 5 and 10 s of grace
    (prefix / "html/slow/big.bin").write_bytes(os.urandom(size))
    proc = subprocess.Popen(argv, start_new_session=True)
    server = Nginx(unique, port, prefix, proc)
    try:
        wait_accepting(port, lambda: proc.poll() is None, (prefix / "error.log").read_text)
        download = Download(port)
        client = threading.Thread(target=download.run, daemon=True)
        client.start()
        assert download.started.wait(5)
        env = {**os.environ, "NGINX_PORT": str(port), "NGINX_PIDFILE": str(prefix / "nginx.pid"),
               "NGINX_PROCESS": unique, "HOOKRUN_STATE_DIR": str(tmp_path / "state"),
               "HOOKRUN_GRACE_PERIOD": f"{grace}s"}
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "hookrun", "--config", str(ROOT / "config/nginx.toml"),
                               "--log-target", "stderr", "prestop"], cwd=ROOT, env=env, text=True,
                              capture_output=True, timeout=60, check=False)
        ended = time.monotonic()
        client.join(15)
        out = done.stderr
        assert "quit: ok: sent SIGQUIT to pid" in out, out
        assert done.returncode == 0, out
        assert server.processes() == [], out  # every nginx process gone when the hook returns
        assert ended - started < budget + 0.5, out  # within the budget (start-up counted in it)
        fits = grace >= 10  # 6.1 s of download: QUIT at 0 s with 5 s of grace, nginx cuts at 2 s
        assert (download.received == size) is fits, (download.received, out)
        assert out.splitlines()[-1].startswith("hookrun prestop: summary: ")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        proc.wait(timeout=10)
        for pid in server.processes():
            os.kill(pid, 9)


def test_a_wrong_pidfile_ends_the_hook_at_once(tmp_path: Path, nginx: Nginx) -> None:
    wrong = tmp_path / "nowhere" / "nginx.pid"
    env = {**os.environ, "NGINX_PORT": str(nginx.port), "NGINX_PIDFILE": str(wrong),
           "NGINX_PROCESS": nginx.name, "ENDPOINT_GRACE": "200ms", "KUBERNETES_SERVICE_HOST": "",
           "HOOKRUN_STATE_DIR": str(tmp_path / "state"), "HOOKRUN_GRACE_PERIOD": "30s"}
    hookrun = subprocess.Popen([sys.executable, "-m", "hookrun", "--config", str(ROOT / "config/nginx.toml"),
                                "--log-target", "stderr", "prestop"], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[tuple[float, str]] = []
    assert hookrun.stdout is not None
    read_lines(hookrun.stdout.readline, lines)
    code = hookrun.wait(timeout=30)
    ended = time.monotonic()
    out = "\n".join(line for _, line in lines)
    assert code == 1, out
    [failed_at] = [at for at, line in lines if " quit: failed: " in line]
    assert f"the pid in {wrong}" in out and "the pidfile does not exist" in out
    assert "wait-exit: skipped: needs quit, which failed" in out
    assert 0.0 <= ended - failed_at <= 1.0, out
    assert nginx.processes() != []  # nothing was signalled: the kubelet's SIGTERM stops nginx
