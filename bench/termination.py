"""Rollouts: failed requests per termination and delete->gone time, with real parts.

haproxy, in TCP mode with no retries and no redispatch (as kube-proxy forwards), balances two
nginx pods, A and B, on 127.0.0.1. For each termination, pod A starts as
`hookrun emulate --pid-namespace -- nginx ...` (nginx is PID 1 of its own PID namespace, the
hooks run inside it) with the scenario's config; an open-loop load runs through haproxy; the
pod is "deleted" (SIGTERM to emulate: the grace timer starts, preStop runs, then the stop
signal, SIGKILL after the rest of the grace period, as the kubelet does); and D seconds after
the delete, haproxy's runtime API takes A out of rotation, as endpoint propagation does, and
a local Kubernetes API (tests/support/kube_api.py: EndpointSlice list and watch over HTTPS)
marks A's endpoint not ready at the same moment, for the endpoint-aware wait of
config/nginx.toml (the lab's proxy follows at once, so its margin is set to 500 ms here).
Every failed request (refused, reset, closed without an answer, cut mid-body, 5xx or 4xx, timeout)
is recorded with its time, its cause and the pod haproxy sent it to (from haproxy's log).
Half the requests are slow: nginx sends a file at a limited rate, 0.1 to 0.5 s.

With `--scenarios servers`, pod A runs another server with its shipped config instead, serving
the same paths as slowly (bench/lab: a WSGI/ASGI app for gunicorn and uvicorn, a PHP script for
php-fpm): gunicorn, uvicorn, haproxy as the app (in front of pod B's nginx as its origin), or
php-fpm behind nginx, a pod of two containers, each under its own `hookrun emulate` with its
own config (php-fpm.toml and nginx.toml), deleted at the same moment as the kubelet does.
`--config-dir DIR` takes the shipped configs from DIR (the tests' controls change one thing).

    .venv/bin/python bench/termination.py [--quick] [--runs N] [--cells dense:1,sparse:5]
                                          [--scenarios no-hook,nginx.toml|servers] [--json FILE]
    .venv/bin/python bench/termination.py --table FILE    # the table of a saved --json run
Needs root (PID namespaces), nginx and haproxy (build/system-deps.sh installs both); the servers
also php-fpm (the same script) and gunicorn and uvicorn (the dev extras).
Everything it starts (processes, configs, sockets, ports) is its own and is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support.kube_api import FakeKubeAPI  # noqa: E402  (the tests' API server: the same documents)

POD_A_IP, POD_B_IP = "127.0.3.11", "127.0.3.12"  # the pods' addresses as the API lists them (loopback: only data here)
NGINX = "/usr/sbin/nginx"
GRACE = 30  # terminationGracePeriodSeconds of pod A (the shipped configs say 30s too)
WARM = 1.0  # seconds of traffic through both pods before the delete
TAIL = 0.3  # seconds of traffic after max(delete + D, pod gone)
REQUEST_TIMEOUT = 5.0
MAX_IN_FLIGHT = 1000  # the open-loop client never holds more requests than this
SLOW_RATE = 65536  # bytes/s of a slow answer (nginx limit_rate)
CHUNK = 2048  # nginx sendfile_max_chunk: with limit_rate, the pace is one chunk at a time
SLOW_SIZES = [CHUNK + int(SLOW_RATE * t) for t in (0.1, 0.2, 0.3, 0.4, 0.5)]
QUICK_CELLS = "dense:1,dense:5,sparse:5,keepalive:2"
LOG_FORMAT = "%Ts.%ms %cp %s %ts"  # haproxy: accept time, client port, server, termination state


# --- what is measured --------------------------------------------------------------------------

@dataclass(frozen=True)
class Traffic:
    name: str
    rate: float  # requests per second, all clients together
    connections: int  # 0: a new connection per request; N: N keep-alive clients
    describe: str


TRAFFIC = {
    "dense": Traffic("dense", 200, 0, "200 req/s, a new connection each (Poisson arrivals), half slow"),
    "sparse": Traffic("sparse", 4, 0, "4 req/s, a new connection each (Poisson arrivals), half slow"),
    "keepalive": Traffic("keepalive", 80, 32, "32 keep-alive clients pinned to their pod, 2.5 req/s "
                         "each (80 req/s), half slow"),
}


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str  # column title
    describe: str
    app: str = "nginx"  # what pod A runs (pod_a)


def scenarios(seed_sleep: float) -> dict[str, Scenario]:
    quit_wait = "nginx -s quit && while killall -0 nginx; do sleep 1; done"
    sleep = f"{seed_sleep:g}"
    found = [
        Scenario("no-hook", "no hook", "no preStop: SIGTERM at once (nginx's fast shutdown)"),
        Scenario("quit-killall", "quit+killall", f"the seed's hook: sh -c '{quit_wait}'"),
        Scenario("sleep-quit", f"sleep {sleep}+quit", f"the seed's hook: sh -c 'sleep {sleep} && {quit_wait}'"),
        Scenario("nginx.toml", "nginx.toml", "hookrun with config/nginx.toml, the API readable: "
                 "endpoint-race (EndpointSlices; margin 500ms), QUIT, wait for exit"),
        Scenario("nginx.toml-noapi", "nginx.toml, no API", "hookrun with config/nginx.toml where the API "
                 "cannot be read: quiet-instead (no new connection for 1s, at least ENDPOINT_GRACE = 5s), "
                 "QUIT, wait for exit"),
        Scenario("logfile.toml", "logfile.toml", "hookrun with config/logfile.toml, the API readable: "
                 "endpoint-race as nginx.toml's, QUIT, wait for the pid file to go"),
        # the other servers, each with its shipped config, the API readable (--scenarios servers)
        Scenario("gunicorn.toml", "gunicorn", "gunicorn (gthread, 2 workers x 32 threads) with "
                 "config/gunicorn.toml: endpoint-race, TERM, wait for exit", "gunicorn"),
        Scenario("uvicorn.toml", "uvicorn", "uvicorn with config/uvicorn.toml: endpoint-race, TERM, "
                 "wait for exit", "uvicorn"),
        Scenario("haproxy.toml", "haproxy", "haproxy as the app (HTTP mode, master-worker, in front of an "
                 "origin) with config/haproxy.toml: endpoint-race, USR1 (soft stop), wait for exit", "haproxy"),
        Scenario("php-fpm.toml", "php-fpm+nginx", "two containers, nginx (config/nginx.toml) in front of "
                 "php-fpm (config/php-fpm.toml: endpoint-race, nginx's listener closed, QUIT, wait for "
                 "exit)", "php-fpm"),
    ]
    found += [Scenario(f"{s.key}-noapi", f"{s.label}, no API", f"{s.label} where the API cannot be read: "
                       "quiet-instead in place of endpoint-race (at least ENDPOINT_GRACE = 5s)", s.app)
              for s in found if s.app != "nginx"]  # --scenarios servers-noapi
    return {s.key: s for s in found}


@dataclass
class Outcome:
    start: float  # monotonic
    wall: float  # time.time() at the start, to match haproxy's log
    slow: bool
    end: float = 0.0
    port: int | None = None  # the client's local port
    pod: str | None = None  # "a" or "b": the answer's X-Pod header, else haproxy's log
    cause: str | None = None  # None: answered in full with a status below 500
    retried: bool = False  # failed on a reused keep-alive connection, retried once on a new one


@dataclass
class Run:
    scenario: str
    traffic: str
    d: float
    requests: int
    failed: int
    failed_before_delete: int  # failed (ended) before the delete: not the termination's doing
    causes: dict[str, int]
    failed_by_pod: dict[str, int]
    retried: int
    gone_s: float | None  # delete -> pod A's main process (each container's) exited
    out_of_rotation_s: float  # delete -> haproxy's answer to `state maint`
    verdict: str
    answered_by_a_after_delete: int = 0  # requests pod A answered in full that started after the delete
    last_answer_by_a_s: float | None = None  # delete -> the end of pod A's last full answer
    failures: list[dict[str, object]] = field(default_factory=list)  # each: t (from delete), cause, pod


# --- processes -------------------------------------------------------------------------------

class Procs:
    """Every process started here, each in a session of its own: SIGKILLed group by group at the end."""

    def __init__(self) -> None:
        self.started: list[asyncio.subprocess.Process] = []

    async def start(self, argv: list[str], **kwargs: object) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                    start_new_session=True, **kwargs)  # type: ignore[arg-type]
        self.started.append(proc)
        return proc

    async def close(self) -> None:
        for proc in self.started:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.started:
            with contextlib.suppress(asyncio.TimeoutError, ProcessLookupError):
                await asyncio.wait_for(proc.wait(), 10)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def loadavg() -> float:
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_accepting(port: int, alive: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if not alive():
                raise RuntimeError(f"the server for port {port} ended before accepting") from None
            await asyncio.sleep(0.02)
    raise RuntimeError(f"nothing accepts on 127.0.0.1:{port} after {seconds:g} s")


# --- the lab: two pods, a balancer, a registry --------------------------------------------------

SLOW_LOCATION = f"location /slow/ {{ limit_rate {SLOW_RATE}; sendfile_max_chunk {CHUNK}; }}"


def nginx_conf(prefix: Path, html: Path, port: int, pod: str, location: str = SLOW_LOCATION) -> Path:
    """An nginx pod's config: static files from `html` (the slow ones at a limited rate), or what
    `location` says."""
    temp = prefix / "tmp"
    temp.mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers read our private temp dir
    paths = "".join(f"    {kind}_temp_path {temp}/{kind};\n"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log notice;\n"
        "events { worker_connections 2048; }\n"
        f"http {{\n    access_log off;\n{paths}    keepalive_timeout 60s;\n    keepalive_requests 100000;\n"
        f"    server {{\n        listen 127.0.0.1:{port} backlog=1024;\n        root {html};\n"
        f"        add_header X-Pod {pod} always;\n"
        f"        {location}\n"
        "    }\n}\n")
    return conf


def haproxy_cfg(tmp: Path, port: int, port_a: int, port_b: int) -> Path:
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(
        "global\n    nbthread 1\n    maxconn 4000\n    log stdout format raw local0\n"
        f"    stats socket {tmp}/haproxy.sock mode 600 level admin\n"
        "defaults\n    mode tcp\n    log global\n"
        f'    log-format "{LOG_FORMAT}"\n'
        "    retries 0\n    no option redispatch\n"
        "    timeout connect 2s\n    timeout client 60s\n    timeout server 60s\n"
        f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n"
        "backend be\n    balance roundrobin\n"
        f"    server a 127.0.0.1:{port_a} disabled\n    server b 127.0.0.1:{port_b}\n")
    return cfg


@dataclass
class Session:
    accepted: float  # wall clock
    server: str
    state: str


class Lab:
    def __init__(self, tmp: Path, verbose: bool, config_dir: Path) -> None:
        self.tmp, self.verbose, self.config_dir = tmp, verbose, config_dir.resolve()
        self.procs = Procs()
        self.html = tmp / "html"
        self.port_lb, self.port_a, self.port_b = free_port(), free_port(), free_port()
        self.sessions: dict[int, list[Session]] = {}  # client port -> haproxy sessions, in order
        self.tasks: list[asyncio.Task[None]] = []
        self.cpu_others = 0.0  # CPU seconds of haproxy and pod B, read before they are killed
        self.api = FakeKubeAPI(tmp / "api", namespace="bench")

    async def start(self) -> None:
        self.api.start()
        (self.html / "slow").mkdir(parents=True)
        (self.html / "fast.txt").write_text("ok\n")
        for index, size in enumerate(SLOW_SIZES, 1):
            (self.html / "slow" / f"{index}.bin").write_bytes(b"x" * size)
        conf_b = nginx_conf(self.tmp / "pod-b", self.html, self.port_b, "b")
        self.nginx_b = await self.procs.start([NGINX, "-g", "daemon off;", "-c", str(conf_b),
                                               "-e", str(self.tmp / "pod-b/error.log")])
        await wait_accepting(self.port_b, lambda: self.nginx_b.returncode is None)
        cfg = haproxy_cfg(self.tmp, self.port_lb, self.port_a, self.port_b)
        with open(self.tmp / "haproxy.err", "wb") as err:
            self.haproxy = await self.procs.start(["haproxy", "-db", "-f", str(cfg)],
                                                  stdout=asyncio.subprocess.PIPE, stderr=err)
        self.tasks.append(asyncio.create_task(self._read_haproxy_log()))
        await wait_accepting(self.port_lb, lambda: self.haproxy.returncode is None)

    async def close(self) -> None:
        for proc in (getattr(self, "haproxy", None), getattr(self, "nginx_b", None)):
            if proc is not None and proc.returncode is None:
                self.cpu_others += cpu_seconds(proc.pid)
        for task in self.tasks:
            task.cancel()
        await self.procs.close()
        self.api.stop()
        if self.api.problems:  # a document the Kubernetes schema rejects: the lab is wrong
            raise RuntimeError("the lab's Kubernetes API went wrong:\n" + "\n".join(self.api.problems))

    async def _read_haproxy_log(self) -> None:
        assert self.haproxy.stdout is not None
        while line := await self.haproxy.stdout.readline():
            parts = line.decode(errors="replace").split()
            with contextlib.suppress(ValueError, IndexError):
                session = Session(float(parts[0]), parts[2], parts[3])
                self.sessions.setdefault(int(parts[1]), []).append(session)

    async def haproxy_command(self, command: str) -> str:
        reader, writer = await asyncio.open_unix_connection(str(self.tmp / "haproxy.sock"))
        writer.write(command.encode() + b"\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        if answer.strip():
            raise RuntimeError(f"haproxy: {command}: {answer.decode(errors='replace').strip()}")
        return answer.decode()

    def pod_of(self, outcome: Outcome) -> str | None:
        """The server haproxy chose for this request's connection (the latest session of that
        client port accepted before the request started)."""
        if outcome.port is None:
            return None
        chosen = None
        for session in self.sessions.get(outcome.port, []):
            if session.accepted <= outcome.wall + 0.05:
                chosen = session
        return None if chosen is None else chosen.server


# --- pod A under hookrun emulate ------------------------------------------------------------------

@dataclass
class Container:
    """One container of pod A: its main process runs under its own `hookrun emulate
    --pid-namespace` (PID 1 of its own PID namespace, the hooks inside it), with its config."""
    name: str
    argv: list[str]
    config: Path
    env: dict[str, str]  # what the config reads, besides the lab's common variables


VENV_BIN = Path(sys.executable).parent  # gunicorn and uvicorn come with the dev extras
PHP_FPM = "/usr/sbin/php-fpm8.2"
LAB_APP = ROOT / "bench" / "lab"  # app.py (WSGI and ASGI) and index.php: the answers nginx gives


def seed_config(key: str, seed_sleep: float, prefix: Path, conf: Path) -> Path:
    """The seed's hook of a scenario without a shipped config, written as TOML."""
    head = f'[settings]\ngrace_period = "{GRACE}s"\n'
    quit_wait = f"nginx -c {conf} -e {prefix}/error.log -s quit && while killall -0 nginx; do sleep 1; done"
    script = {"no-hook": None, "quit-killall": quit_wait,
              "sleep-quit": f"sleep {seed_sleep:g} && {quit_wait}"}[key]
    text = head if script is None else (
        f'{head}\n[prestop]\n\n[[prestop.steps]]\nname = "seed-hook"\nshell = {json.dumps(script)}\n')
    path = prefix / "hookrun.toml"
    path.write_text(text)
    return path


def shipped(lab: Lab, name: str) -> Path:
    return lab.config_dir / name


def nginx_container(lab: Lab, prefix: Path, config: Path, conf: Path) -> Container:
    return Container("nginx", [NGINX, "-g", "daemon off;", "-c", str(conf), "-e", str(prefix / "error.log")],
                     config, {"NGINX_PORT": str(lab.port_a), "NGINX_PIDFILE": str(prefix / "nginx.pid"),
                              "APP_PIDFILE": str(prefix / "nginx.pid"), "APP_PORT": str(lab.port_a),
                              "APP_LIFECYCLE_LOG": str(prefix / "lifecycle.log")})


def haproxy_app_cfg(prefix: Path, port: int, origin: int) -> Path:
    """haproxy as the app: an HTTP proxy in front of an origin (the lab's pod B nginx), as the
    official image runs it (master-worker, foreground)."""
    cfg = prefix / "haproxy.cfg"
    cfg.write_text(
        "global\n    nbthread 1\n    maxconn 4000\n    hard-stop-after 4s\n"
        "defaults\n    mode http\n    retries 0\n    timeout connect 2s\n    timeout client 60s\n"
        "    timeout server 60s\n    timeout http-keep-alive 60s\n"
        f"frontend app\n    bind 127.0.0.1:{port}\n    http-response set-header X-Pod a\n"
        f"    default_backend origin\nbackend origin\n    server origin 127.0.0.1:{origin}\n")
    return cfg


def php_fpm_conf(prefix: Path, port: int) -> Path:
    conf = prefix / "php-fpm.conf"
    user = "user = root\ngroup = root\n" if os.geteuid() == 0 else ""
    conf.write_text(
        f"[global]\npid = {prefix}/php-fpm.pid\nerror_log = {prefix}/php-fpm.log\ndaemonize = no\n"
        "process_control_timeout = 4s\n"
        f"[app]\n{user}listen = 127.0.0.1:{port}\nlisten.backlog = 1024\npm = static\npm.max_children = 48\n")
    return conf


def nginx_fastcgi_conf(prefix: Path, port: int, fpm_port: int) -> Path:
    """nginx in front of php-fpm, as the php-fpm pod's other container."""
    return nginx_conf(prefix, LAB_APP, port, "a", (
        f"location / {{\n            fastcgi_pass 127.0.0.1:{fpm_port};\n"
        f"            fastcgi_param SCRIPT_FILENAME {LAB_APP}/index.php;\n"
        "            fastcgi_param DOCUMENT_URI $document_uri;\n"
        "            fastcgi_param REQUEST_METHOD $request_method;\n"
        "            fastcgi_param QUERY_STRING $query_string;\n        }"))


def pod_a(lab: Lab, prefix: Path, scenario: Scenario, seed_sleep: float) -> list[Container]:
    """Pod A's containers for a scenario (its app and the config of each container)."""
    port = str(lab.port_a)
    if scenario.app == "nginx":
        conf = nginx_conf(prefix, lab.html, lab.port_a, "a")
        config = shipped(lab, scenario.key.partition("-noapi")[0]) if ".toml" in scenario.key else \
            seed_config(scenario.key, seed_sleep, prefix, conf)
        return [nginx_container(lab, prefix, config, conf)]
    if scenario.app == "gunicorn":
        return [Container("gunicorn", [str(VENV_BIN / "gunicorn"), "--chdir", str(LAB_APP), "--bind",
                                       f"127.0.0.1:{port}", "--worker-class", "gthread", "--workers", "2",
                                       "--threads", "32", "--graceful-timeout", "4", "app:wsgi"],
                          shipped(lab, "gunicorn.toml"), {"GUNICORN_PORT": port})]
    if scenario.app == "uvicorn":
        return [Container("uvicorn", [str(VENV_BIN / "uvicorn"), "--app-dir", str(LAB_APP), "--host", "127.0.0.1",
                                      "--port", port, "--timeout-graceful-shutdown", "4", "--no-access-log",
                                      "--timeout-keep-alive", "60", "app:asgi"],
                          shipped(lab, "uvicorn.toml"), {"UVICORN_PORT": port})]
    if scenario.app == "haproxy":
        cfg = haproxy_app_cfg(prefix, lab.port_a, lab.port_b)
        return [Container("haproxy", ["haproxy", "-W", "-db", "-f", str(cfg)], shipped(lab, "haproxy.toml"),
                          {"HAPROXY_PORT": port})]
    if scenario.app == "php-fpm":
        fpm_port = free_port()
        fpm, web = prefix / "php-fpm", prefix / "nginx"
        fpm.mkdir(parents=True)
        conf = nginx_fastcgi_conf(web, lab.port_a, fpm_port)
        return [Container("php-fpm", [PHP_FPM, "--nodaemonize", "--allow-to-run-as-root", "--fpm-config",
                                      str(php_fpm_conf(fpm, fpm_port))], shipped(lab, "php-fpm.toml"),
                          {"PHP_FPM_PORT": str(fpm_port), "PHP_FPM_PROCESS": Path(PHP_FPM).name,
                           "NGINX_PORT": port}),
                nginx_container(lab, web, shipped(lab, "nginx.toml"), conf)]
    raise ValueError(f"no pod for the app {scenario.app!r}")


def container_env(lab: Lab, prefix: Path, scenario: Scenario, container: Container) -> dict[str, str]:
    """The container's environment: the variables its config reads, pointed at pod A (and at the
    lab's Kubernetes API, unless the scenario is without)."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in
           ("http_proxy", "https_proxy", "all_proxy")}  # the hooks' traffic stays on loopback
    env.update({
        "HOSTNAME": "pod-a",
        "POD_NAME": "a", "HOOKRUN_STATE_DIR": str(prefix / "state"), "PYTHONPATH": str(ROOT),
        "TMPDIR": str(lab.tmp),  # what emulate makes there is removed with it, even if it is killed
    })
    env.update(container.env)
    env.pop("HOOKRUN_CONFIG", None)
    env.pop("HOOKRUN_GRACE_PERIOD", None)
    if scenario.key.endswith("-noapi"):
        env["KUBERNETES_SERVICE_HOST"] = ""
    else:
        env.update(lab.api.env)
        env.update({"POD_IP": POD_A_IP, "POD_NAMESPACE": lab.api.namespace,
                    "SERVICEACCOUNT_DIR": str(lab.api.serviceaccount), "ENDPOINT_MARGIN": "500ms"})
    return env


class Emulated:
    """One container of pod A under `hookrun emulate`: its events, its main process, its end."""

    def __init__(self, lab: Lab, prefix: Path, container: Container) -> None:
        self.lab, self.prefix, self.container = lab, prefix, container
        self.lines: list[str] = []
        self.app_pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.pidfd: int | None = None
        self.gone: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    async def start(self, env: dict[str, str]) -> None:
        argv = [sys.executable, "-m", "hookrun", "--config", str(self.container.config), "emulate",
                "--pid-namespace", "--grace-period", f"{GRACE}s", "--timeline", str(self.prefix / "timeline.json"),
                "--", *self.container.argv]
        with open(self.prefix / "emulate.out", "wb") as out:
            self.emulate = await self.lab.procs.start(argv, cwd=str(ROOT), env=env, stdout=out,
                                                      stderr=asyncio.subprocess.PIPE)
        self.reader = asyncio.create_task(self._read())
        pid = await asyncio.wait_for(asyncio.shield(self.app_pid), 10)
        self.pidfd = os.pidfd_open(pid)
        asyncio.get_running_loop().add_reader(self.pidfd, self._exited)

    def _exited(self) -> None:
        assert self.pidfd is not None
        asyncio.get_running_loop().remove_reader(self.pidfd)
        if not self.gone.done():
            self.gone.set_result(time.monotonic())

    async def _read(self) -> None:
        assert self.emulate.stderr is not None
        while raw := await self.emulate.stderr.readline():
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if self.lab.verbose:
                print(f"    {self.container.name}: {line}", file=sys.stderr)
            found = re.search(r"app started: .*\(pid (\d+)", line)
            if found and not self.app_pid.done():
                self.app_pid.set_result(int(found.group(1)))
        if not self.app_pid.done():
            self.app_pid.set_exception(RuntimeError(f"hookrun emulate of {self.container.name} ended before "
                                                    "the app started:\n" + "\n".join(self.lines[-20:])))

    def delete(self) -> None:
        os.kill(self.emulate.pid, signal.SIGTERM)

    async def finish(self) -> str:
        """Wait for emulate to end (bounded); its verdict."""
        try:
            await asyncio.wait_for(self.emulate.wait(), GRACE + 10)
        except asyncio.TimeoutError:
            os.killpg(self.emulate.pid, signal.SIGKILL)
            await self.emulate.wait()
            return "hookrun emulate did not end: killed"
        finally:
            await asyncio.wait_for(self.reader, 5)
            self.close()
        with contextlib.suppress(OSError, ValueError, KeyError):
            return str(json.loads((self.prefix / "timeline.json").read_text())["verdict"])
        return f"no timeline (emulate exit {self.emulate.returncode})"

    def close(self) -> None:
        if self.pidfd is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self.pidfd)
            with contextlib.suppress(ProcessLookupError, OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)  # no-op once it has exited
            os.close(self.pidfd)
            self.pidfd = None


class PodA:
    """One instance of pod A: its containers, each under `hookrun emulate`. Deleting the pod
    stops them all at the same moment, as the kubelet does; the pod is gone when the last
    container's main process has exited."""

    def __init__(self, lab: Lab, prefix: Path, scenario: Scenario, seed_sleep: float) -> None:
        self.lab, self.scenario = lab, scenario
        prefix.mkdir(parents=True, exist_ok=True)
        containers = pod_a(lab, prefix, scenario, seed_sleep)
        self.containers = [Emulated(lab, prefix / c.name if len(containers) > 1 else prefix, c) for c in containers]

    async def gone(self) -> float:
        """When the last main process exited (monotonic)."""
        return max(await asyncio.gather(*(asyncio.shield(c.gone) for c in self.containers)))

    async def start(self) -> None:
        for container in self.containers:  # in order: php-fpm before the nginx in front of it
            container.prefix.mkdir(parents=True, exist_ok=True)
            await container.start(container_env(self.lab, container.prefix, self.scenario, container.container))
        await wait_accepting(self.lab.port_a, lambda: not any(c.gone.done() for c in self.containers))

    def delete(self) -> None:
        """`kubectl delete pod`: the emulated kubelet starts the grace timer and runs preStop, in
        every container at once."""
        for container in self.containers:
            container.delete()

    async def finish(self) -> str:
        verdicts = [await container.finish() for container in self.containers]
        if len(verdicts) == 1:
            return verdicts[0]
        return "; ".join(f"{c.container.name}: {v}" for c, v in zip(self.containers, verdicts, strict=True))

    def close(self) -> None:
        for container in self.containers:
            container.close()


# --- the load --------------------------------------------------------------------------------------

class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.port = int(writer.get_extra_info("sockname")[1])
        self.used = False

    def close(self) -> None:
        self.writer.close()


async def connect(port: int) -> Connection:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return Connection(reader, writer)


async def exchange(conn: Connection, path: str, keep: bool, outcome: Outcome) -> bool:
    """One request on `conn`; fills outcome.pod / cause. True if any byte of an answer came."""
    conn.used = True
    header = "keep-alive" if keep else "close"
    conn.writer.write(f"GET {path} HTTP/1.1\r\nHost: pod\r\nConnection: {header}\r\n\r\n".encode())
    await conn.writer.drain()
    status = await conn.reader.readline()
    if not status:
        outcome.cause = "closed without an answer"
        return False
    try:
        head = await conn.reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        outcome.cause = "cut mid-answer"
        return True
    length = re.search(rb"(?i)\r?\ncontent-length:\s*(\d+)", b"\n" + head)
    pod = re.search(rb"(?i)\r?\nx-pod:\s*(\w+)", b"\n" + head)
    outcome.pod = pod.group(1).decode() if pod else None
    try:
        await conn.reader.readexactly(int(length.group(1)) if length else 0)
    except asyncio.IncompleteReadError:
        outcome.cause = "cut mid-answer"
        return True
    code = int(status.split()[1])
    if code >= 400:  # 5xx: the pod failed it; 4xx: the lab is broken (every path it asks for exists)
        outcome.cause = f"HTTP {code}"
    return True


def error_cause(err: BaseException) -> str:
    if isinstance(err, asyncio.TimeoutError):
        return "timeout"
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, ConnectionResetError):
        return "reset"
    if isinstance(err, BrokenPipeError):
        return "closed while sending"
    return f"error: {type(err).__name__}"


class Load:
    """Open-loop load through the balancer, recorded request by request."""

    def __init__(self, traffic: Traffic, port: int, rng: random.Random) -> None:
        self.traffic, self.port, self.rng = traffic, port, rng
        self.outcomes: list[Outcome] = []
        self.stopping = False

    def _new(self) -> tuple[Outcome, str]:
        slow = self.rng.random() < 0.5
        path = f"/slow/{self.rng.randint(1, len(SLOW_SIZES))}.bin" if slow else "/fast.txt"
        outcome = Outcome(time.monotonic(), time.time(), slow)
        self.outcomes.append(outcome)
        return outcome, path

    async def run(self, cap: float) -> None:
        """Until stop(); `cap` bounds the seconds it may run in any case."""
        deadline = time.monotonic() + cap
        if self.traffic.connections:
            await asyncio.gather(*(self._client(deadline) for _ in range(self.traffic.connections)))
        else:
            await self._open_loop(deadline)

    def stop(self) -> None:
        self.stopping = True

    async def _open_loop(self, deadline: float) -> None:
        pending: set[asyncio.Task[None]] = set()
        due = time.monotonic()
        while not self.stopping and time.monotonic() < deadline:
            due += self.rng.expovariate(self.traffic.rate)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            outcome, path = self._new()
            if len(pending) >= MAX_IN_FLIGHT:
                outcome.cause, outcome.end = "not sent: client overloaded", outcome.start
                continue
            task = asyncio.create_task(self._one(outcome, path))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending, timeout=REQUEST_TIMEOUT + 1)

    async def _one(self, outcome: Outcome, path: str) -> None:
        conn = None
        try:
            conn = await asyncio.wait_for(connect(self.port), REQUEST_TIMEOUT)
            outcome.port = conn.port
            await asyncio.wait_for(exchange(conn, path, False, outcome), REQUEST_TIMEOUT)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError) as err:
            outcome.cause = error_cause(err)
        finally:
            outcome.end = time.monotonic()
            if conn is not None:
                conn.close()

    async def _client(self, deadline: float) -> None:
        """A keep-alive client: one request at a time on its connection, at a steady pace. Like
        HTTP client libraries, it drops an idle connection the server has closed, and retries a
        request once on a new connection when a reused one closed before any byte of the answer."""
        period = self.traffic.connections / self.traffic.rate
        due = time.monotonic() + self.rng.uniform(0, period)
        conn: Connection | None = None
        while not self.stopping and time.monotonic() < deadline:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            due = max(due + period, time.monotonic() - period)  # late after a slow answer: no bursts
            if self.stopping:
                break
            outcome, path = self._new()
            if conn is not None and conn.reader.at_eof():
                conn.close()
                conn = None
            conn = await self._keepalive_request(conn, outcome, path)
            outcome.end = time.monotonic()
        if conn is not None:
            conn.close()

    async def _keepalive_request(self, conn: Connection | None, outcome: Outcome,
                                 path: str) -> Connection | None:
        for attempt in (1, 2):
            reused = conn is not None
            answered = False
            try:
                if conn is None:
                    conn = await asyncio.wait_for(connect(self.port), REQUEST_TIMEOUT)
                outcome.port, outcome.cause = conn.port, None
                answered = await asyncio.wait_for(exchange(conn, path, True, outcome), REQUEST_TIMEOUT)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError) as err:
                outcome.cause = error_cause(err)
            if outcome.cause is None:
                return conn
            if conn is not None:
                conn.close()
                conn = None
            if not (reused and not answered and attempt == 1):
                return None
            outcome.retried = True
        return None


# --- one termination --------------------------------------------------------------------------

async def terminate(lab: Lab, scenario: Scenario, seed_sleep: float, traffic: Traffic, d: float,
                    index: int, rng: random.Random) -> Run:
    pod = PodA(lab, lab.tmp / f"pod-a-{index}", scenario, seed_sleep)
    load = Load(traffic, lab.port_lb, rng)
    load_task: asyncio.Task[None] | None = None
    try:
        lab.api.put(lab.api.endpoint_slice("web-ab12c", "web", [(POD_A_IP, "pod-a", True, True, False),
                                                                (POD_B_IP, "pod-b", True, True, False)]))
        await pod.start()
        await lab.haproxy_command("set server be/a state ready")
        load_task = asyncio.create_task(load.run(WARM + GRACE + 20))
        await asyncio.sleep(WARM)
        deleted = time.monotonic()
        pod.delete()
        await asyncio.sleep(max(0.0, deleted + d - time.monotonic()))
        await lab.haproxy_command("set server be/a state maint")
        lab.api.set_ready(POD_A_IP, False, serving=True, terminating=True)  # as the controller says
        out_of_rotation = time.monotonic() - deleted
        try:
            gone: float | None = await asyncio.wait_for(pod.gone(), GRACE + 5)
        except asyncio.TimeoutError:
            gone = None
        end = max(deleted + d, gone or time.monotonic()) + TAIL
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        load.stop()
        await asyncio.wait_for(load_task, REQUEST_TIMEOUT + 5)
        verdict = await pod.finish()
    finally:
        load.stop()
        if load_task is not None and not load_task.done():
            load_task.cancel()
        pod.close()
        with contextlib.suppress(OSError, RuntimeError):
            await lab.haproxy_command("set server be/a state maint")
    await asyncio.sleep(0.1)  # haproxy logs a session when it ends: let the last lines arrive
    return summarize(lab, load.outcomes, scenario.key, traffic, d, deleted, gone, out_of_rotation, verdict)


def summarize(lab: Lab, outcomes: list[Outcome], scenario: str, traffic: Traffic, d: float,
              deleted: float, gone: float | None, out_of_rotation: float, verdict: str) -> Run:
    failed = [o for o in outcomes if o.cause is not None]
    by_a = [o for o in outcomes if o.cause is None and o.pod == "a"]
    for outcome in failed:
        outcome.pod = outcome.pod or lab.pod_of(outcome) or "none"
    return Run(
        scenario=scenario, traffic=traffic.name, d=d, requests=len(outcomes), failed=len(failed),
        failed_before_delete=sum(1 for o in failed if o.end < deleted),
        causes=dict(Counter(o.cause or "" for o in failed)),
        failed_by_pod=dict(Counter(o.pod or "none" for o in failed)),
        retried=sum(1 for o in outcomes if o.retried),
        answered_by_a_after_delete=sum(1 for o in by_a if o.start >= deleted),
        last_answer_by_a_s=round(max(o.end for o in by_a) - deleted, 3) if by_a else None,
        gone_s=None if gone is None else round(gone - deleted, 3),
        out_of_rotation_s=round(out_of_rotation, 3), verdict=verdict,
        failures=[{"t": round(o.start - deleted, 3), "cause": o.cause, "pod": o.pod, "slow": o.slow}
                  for o in failed])


# --- the report --------------------------------------------------------------------------------

def cell_text(runs: list[Run]) -> str:
    """Failed requests (min-max over the runs) / delete->gone (median); "*": nginx outlived the wait."""
    if not runs:
        return "-"
    fails = [r.failed for r in runs]
    gones = [r.gone_s for r in runs if r.gone_s is not None]
    fail = f"{min(fails)}" if min(fails) == max(fails) else f"{min(fails)}-{max(fails)}"
    gone = f"{statistics.median(gones):.1f}s" if gones else "never"
    if len(gones) < len(runs):
        gone += "*"
    return f"{fail} / {gone}"


def table(runs: list[Run], cells: list[tuple[str, float]], keys: list[str],
          found: dict[str, Scenario]) -> str:
    groups = grouped(runs, cells, keys)
    width = max(14, *(len(cell_text(group)) + 2 for group in groups.values()),
                *(len(found[k].label) + 2 for k in keys))
    head = f"{'traffic':<10}{'D':>3}  {'requests':>8}" + "".join(f"{found[k].label:>{width}}" for k in keys)
    lines = [head, "-" * len(head)]
    for name, d in cells:
        in_cell = [r for r in runs if (r.traffic, r.d) == (name, d)]
        requests = f"{statistics.mean(r.requests for r in in_cell):.0f}" if in_cell else "-"
        row = "".join(f"{cell_text(groups[(name, d, k)]):>{width}}" for k in keys)
        lines.append(f"{name:<10}{d:>2g}s  {requests:>8}{row}")
    return "\n".join(lines)


def report(document: dict[str, Any]) -> str:
    """The table and its legend, from the JSON document of a run."""
    runs = [Run(**run) for run in document["runs"]]
    cells = [(c["traffic"], float(c["d"])) for c in document["cells"]]
    keys, found = document["scenarios"], scenarios(document["seed_sleep"])
    per = document["runs_per_cell"]
    several = per > 1
    lines = [f"Failed requests per termination{' (min-max)' if several else ''} / delete->gone"
             f"{' (median)' if several else ''}; {'--quick, ' if document['quick'] else ''}"
             f"{per} termination{'s' if several else ''} per cell and scenario",
             "haproxy TCP mode, retries 0, no redispatch; pod A out of rotation D s after the delete; "
             f"grace period {document['grace_s']}s; {WARM:g}s of traffic before the delete",
             table(runs, cells, keys, found),
             "  requests: sent per termination, mean over the row (longer terminations send more)"]
    lines += [f"  {name}: {TRAFFIC[name].describe}"
              for name in sorted({n for n, _ in cells}, key=list(TRAFFIC).index)]
    lines += [f"  {found[key].label}: {found[key].describe}" for key in keys]
    lines.append(Usage(**document["usage"]).describe())
    return "\n".join(lines)


def grouped(runs: list[Run], cells: list[tuple[str, float]], keys: list[str]) -> dict[tuple[str, float, str], list[Run]]:
    return {(name, d, k): [r for r in runs if (r.traffic, r.d, r.scenario) == (name, d, k)]
            for name, d in cells for k in keys}


def parse_cells(text: str) -> list[tuple[str, float]]:
    cells = []
    for item in text.split(","):
        name, _, d = item.strip().partition(":")
        if name not in TRAFFIC or not d:
            raise SystemExit(f"--cells: {item!r}: write TRAFFIC:D with TRAFFIC one of {', '.join(TRAFFIC)}")
        cells.append((name, float(d)))
    return cells


def missing(chosen: list[Scenario]) -> str | None:
    if os.geteuid() != 0:
        return "needs root (pod A runs in a PID namespace of its own)"
    for tool in (NGINX, shutil.which("haproxy"), shutil.which("killall")):
        if tool is None or not os.access(tool, os.X_OK):
            return "needs nginx, haproxy and killall (build/system-deps.sh installs them)"
    apps = {s.app for s in chosen}
    if "php-fpm" in apps and not os.access(PHP_FPM, os.X_OK):
        return f"needs {PHP_FPM} (build/system-deps.sh installs php8.2-fpm)"
    for server in ("gunicorn", "uvicorn"):
        if server in apps and not os.access(VENV_BIN / server, os.X_OK):
            return f"needs {VENV_BIN / server} (the dev extras install it: pip install -e '.[dev]')"
    return None


@dataclass
class Usage:
    wall: float = 0.0
    machine_busy: float = 0.0  # fraction of all CPUs
    cpus: int = 1
    load_min: float = 0.0
    load_max: float = 0.0
    bench_cpu: float = 0.0  # seconds: the client and the orchestration (this process)
    children_cpu: float = 0.0  # seconds: hookrun emulate, pods A and their hooks
    balancer_and_b_cpu: float = 0.0

    def describe(self) -> str:
        per = (lambda s: s / self.wall) if self.wall else (lambda s: 0.0)
        return (f"CPU during the run ({self.wall:.0f} s): machine {self.machine_busy * 100:.0f}% busy over "
                f"{self.cpus} CPUs, load average (1 min) {self.load_min:.2f}-{self.load_max:.2f}; "
                f"cores used on average: load client + orchestration {per(self.bench_cpu):.2f}, "
                f"pod A + hookrun emulate + hooks {per(self.children_cpu):.2f}, "
                f"haproxy + pod B {per(self.balancer_and_b_cpu):.2f}")


async def bench(args: argparse.Namespace, cells: list[tuple[str, float]], keys: list[str],
                usage: Usage, stop: asyncio.Event, tmp: Path) -> list[Run]:
    lab = Lab(tmp, args.verbose, args.config_dir)
    rng = random.Random(args.seed)
    runs: list[Run] = []
    busy0, total0 = machine_cpu()
    started, times0 = time.monotonic(), os.times()
    usage.load_min = usage.load_max = loadavg()
    try:
        await lab.start()
        index = 0
        found = scenarios(args.sleep)
        for name, d in cells:
            for _ in range(args.runs):
                for key in keys:
                    if stop.is_set():  # a cancellation can be lost in a race (asyncio.wait_for, 3.11)
                        raise asyncio.CancelledError
                    index += 1
                    run = await terminate(lab, found[key], args.sleep, TRAFFIC[name], d, index, rng)
                    runs.append(run)
                    load = loadavg()
                    usage.load_min, usage.load_max = min(usage.load_min, load), max(usage.load_max, load)
                    print(f"  {name:<9} D={d:g}s {key:<13} failed {run.failed:>4} of {run.requests:>5}  "
                          f"gone {run.gone_s if run.gone_s is not None else 'never'}s  "
                          f"{dict(run.causes) or ''}  load {load:.2f}", file=sys.stderr, flush=True)
    finally:
        await lab.close()
        usage.balancer_and_b_cpu = lab.cpu_others
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        busy1, total1 = machine_cpu()
        times1 = os.times()
        usage.wall = time.monotonic() - started
        usage.machine_busy = (busy1 - busy0) / max(1, total1 - total0)
        usage.cpus = os.cpu_count() or 1
        usage.bench_cpu = (times1.user + times1.system) - (times0.user + times0.system)
        usage.children_cpu = ((times1.children_user + times1.children_system)
                              - (times0.children_user + times0.children_system))
    return runs


async def main_async(args: argparse.Namespace, cells: list[tuple[str, float]], keys: list[str],
                     usage: Usage, tmp: Path) -> list[Run]:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def interrupted() -> None:  # Ctrl-C or SIGTERM: stop at once, clean up, report nothing
        stop.set()
        task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, interrupted)
    return await bench(args, cells, keys, usage, stop, tmp)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"one termination per cell, cells {QUICK_CELLS} (under 3 minutes)")
    parser.add_argument("--runs", type=int, help="terminations per cell and scenario (default 3; --quick: 1)")
    parser.add_argument("--cells", help="TRAFFIC:D,... (default: every traffic with D = 1, 2, 5)")
    parser.add_argument("--scenarios", help="comma-separated: " + ", ".join(scenarios(10)) + "; or a group: "
                        "nginx (the default: the seeds' hooks and nginx.toml, logfile.toml), servers (the other "
                        "servers' configs), servers-noapi (the same without the API), all")
    parser.add_argument("--sleep", type=float, default=10.0, help="the sleep of the sleep-quit seed hook (10)")
    parser.add_argument("--json", metavar="FILE", help="also write every run as JSON to FILE (- for stdout)")
    parser.add_argument("--config-dir", type=Path, default=ROOT / "config",
                        help="take the shipped configs (nginx.toml, gunicorn.toml, ...) from this directory")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the load")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs, timelines)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show hookrun emulate's events")
    parser.add_argument("--table", metavar="FILE", help="only print the table of a --json FILE saved before")
    args = parser.parse_args()
    if args.table:
        print(report(json.loads(Path(args.table).read_text())))
        return 0
    args.runs = args.runs or (1 if args.quick else 3)
    cells = parse_cells(args.cells or (QUICK_CELLS if args.quick else
                                       ",".join(f"{t}:{d}" for t in TRAFFIC for d in (1, 2, 5))))
    found = scenarios(args.sleep)
    groups = {"nginx": [k for k, s in found.items() if s.app == "nginx"],
              "servers": [k for k, s in found.items() if s.app != "nginx" and not k.endswith("-noapi")],
              "servers-noapi": [k for k, s in found.items() if s.app != "nginx" and k.endswith("-noapi")],
              "all": list(found)}
    keys = [k for item in (args.scenarios or "nginx").split(",") for k in groups.get(item, [item])]
    if unknown := [k for k in keys if k not in found]:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(found)}, "
                     "or a group: nginx (the default), servers, servers-noapi, all")
    if problem := missing([found[k] for k in keys]):
        print(f"bench/termination.py skipped: {problem}")
        return 0
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        os.environ.pop(name, None)
    usage = Usage()
    tmp = Path(tempfile.mkdtemp(prefix="hookrun-termination-"))  # removed by bench() unless --keep
    try:
        runs = asyncio.run(main_async(args, cells, keys, usage, tmp))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; everything started was stopped and removed", file=sys.stderr)
        return 130
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    document = {"format": 1, "quick": args.quick, "runs_per_cell": args.runs, "grace_s": GRACE,
                "seed_sleep": args.sleep, "workdir": str(tmp), "kept": args.keep,
                "cells": [{"traffic": n, "d": d} for n, d in cells], "scenarios": keys,
                "usage": asdict(usage), "runs": [asdict(r) for r in runs]}
    print("\n" + report(document))
    if args.json == "-":
        print(json.dumps(document, indent=1))
    elif args.json:
        Path(args.json).write_text(json.dumps(document, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
