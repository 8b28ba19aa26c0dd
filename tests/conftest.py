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
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.servers import Listener, ScriptedServer

HELPERS = Path(__file__).parent / "helpers"
ROOT = Path(__file__).parent.parent
# hookrun's http step honours proxy variables like curl; test traffic stays on loopback
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)


@dataclass
class Run:
    code: int
    out: str  # everything hookrun wrote (stdout and stderr)
    seconds: float


def run_hookrun(config: Path, *args: str, env: dict[str, str] | None = None,
                timeout: float = 60.0) -> Run:
    """The real CLI in a child process; logs go to stderr, which is captured with stdout."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HOOKRUN_CONFIG", None)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "hookrun", "--config", str(config), "--log-target", "stderr", *args],
        env=full_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=timeout, check=False,
    )
    return Run(done.returncode, done.stdout, time.monotonic() - started)


class Procs:
    """Starts helper processes in their own sessions; kills every group at teardown."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[subprocess.Popen[str]] = []

    def start(self, argv: Sequence[str], ready: bool = False) -> subprocess.Popen[str]:
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, start_new_session=True)
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
        return self.start([str(path), str(HELPERS / "target.py"), *args], ready=ready)

    def cleanup(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            if proc.stdout:
                proc.stdout.close()


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


def state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rpartition(b")")[2].split()[0].decode()
    except OSError:
        return None


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
