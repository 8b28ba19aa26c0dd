"""Shared fixtures: run the real hookrun CLI, start real helper processes and clean them up."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from support import ROOT, TARGET
from support.cli import Result, Run, hookrun_argv, run_hookrun
from support.cli import hookrun as run_cli
from support.procs import state
from support.servers import Listener, ScriptedServer

__all__ = ["ROOT", "Result", "Run", "hookrun_argv", "run_hookrun", "state"]  # shared with tests
# hookrun's http step honours proxy variables like curl; test traffic stays on loopback
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)


@pytest.fixture
def config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a (dedented) config into the test's directory; returns its path."""

    def write(text: str, name: str = "hookrun.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def hookrun(tmp_path: Path) -> Callable[..., Result]:
    """Run the real hookrun in the test's directory, logging to stderr."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
        return run_cli(*args, env={"HOOKRUN_LOG_TARGET": "stderr", **(env or {})},
                       timeout=timeout, cwd=tmp_path)

    return run


class Procs:
    """Starts helper processes in their own sessions; kills every group at teardown."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[subprocess.Popen[str]] = []
        self.pids: list[int] = []  # other processes a test saw (e.g. grandchildren): killed too

    def start(self, argv: Sequence[str], ready: bool = False, env: dict[str, str] | None = None,
              stderr: int = subprocess.STDOUT, stdin: int = subprocess.DEVNULL) -> subprocess.Popen[str]:
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=stderr, stdin=stdin,
                                env=env, text=True, start_new_session=True)
        self.started.append(proc)
        if ready:
            line = proc.stdout.readline() if proc.stdout else ""
            assert line.startswith("ready pid="), f"{argv[0]} did not start: {line!r}"
        return proc

    def named(self, name: str, target: str) -> str:
        """A symlink called `name` to `target`: processes started through it get that name."""
        link = self.tmp / "bin" / name
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(target)
        return str(link)

    def python_named(self, name: str, *args: str, ready: bool = True) -> subprocess.Popen[str]:
        """The target helper running under the process name `name`."""
        path = self.tmp / "bin" / name
        if not path.exists():
            self.named(name, sys.executable)
        return self.start([str(path), str(TARGET), *args], ready=ready)

    def cleanup(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=10)
        for pid in self.pids:
            if state(pid) not in (None, "Z", "X"):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """hookrun keeps locks and markers in a state directory: never the machine's /run/hookrun."""
    monkeypatch.setenv("HOOKRUN_STATE_DIR", str(tmp_path / "hookrun-state"))


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path)
    yield p
    p.cleanup()


@pytest.fixture
def unique() -> str:
    """A short name no other process on this machine has (process names keep 15 characters)."""
    return "hr-" + uuid.uuid4().hex[:10]


def write_config(tmp: Path, text: str, name: str = "hookrun.toml") -> Path:
    path = tmp / name
    path.write_text(text)
    return path


@pytest.fixture
def http_server() -> Iterator[Callable[..., ScriptedServer]]:
    """Start scripted HTTP servers; all are stopped at teardown."""
    servers: list[ScriptedServer] = []

    def start(*script: tuple[object, ...], tls: ssl.SSLContext | None = None) -> ScriptedServer:
        server = ScriptedServer(list(script), tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def listen() -> Iterator[Callable[..., Listener]]:
    listeners: list[Listener] = []

    def start(host: str = "127.0.0.1", port: int = 0) -> Listener:
        listeners.append(Listener(host, port))
        return listeners[-1]

    yield start
    for listener in listeners:
        listener.close()


def nginx_argv(prefix: Path, name: str) -> tuple[list[str], int]:
    """An nginx of a test's own (demo/nginx.conf in `prefix`, a free port, every process named
    `name`): its command line and port. Skips the test where nginx is not installed."""
    binary = "/usr/sbin/nginx"
    if not os.access(binary, os.X_OK):
        pytest.skip("nginx is not installed (build/system-deps.sh installs it)")
    port = free_port()
    for sub in ("html", "tmp", "bin"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    conf = (ROOT / "demo/nginx.conf").read_text().replace("@PREFIX@", str(prefix))
    conf = conf.replace("@PORT@", str(port))
    if os.geteuid() == 0:
        conf = "user root;\n" + conf  # workers must read the test's private temp dir
    (prefix / "nginx.conf").write_text(conf)
    (prefix / "bin" / name).symlink_to(binary)
    return [str(prefix / "bin" / name), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
            "-e", str(prefix / "error.log")], port


def wait_accepting(port: int, running: Callable[[], bool], why: Callable[[], str]) -> None:
    """Until a connection to 127.0.0.1:port is accepted (nginx has no ready message), bounded."""
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert running(), why()
            time.sleep(0.01)
    raise AssertionError(f"nothing accepts on port {port} after 5 s: {why()}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def later(seconds: float, action: Callable[[], object]) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()
    return timer


@pytest.fixture
def netns() -> Iterator[str]:
    """A network namespace of our own with loopback up and TCP port 9 silently dropped."""
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None:
        pytest.skip("needs root, ip and nft")
    name = "hr-net-" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        rules = ("add table inet hr\n"
                 "add chain inet hr out { type filter hook output priority 0 ; }\n"
                 "add rule inet hr out tcp dport 9 drop\n")
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "netns", "exec", name, "nft", "-f", "-"], input=rules, text=True, check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)
