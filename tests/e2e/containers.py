"""Real containers for the tests of the built binaries: crun, or unshare + chroot as a fallback.

crun refuses a hybrid cgroup layout, so every crun command runs inside one private mount
namespace (held open by a sleeping process) where cgroup2 is mounted on /sys/fs/cgroup, with
`--cgroup-manager=disabled`. Hooks are started the way the kubelet does it: an exec into the
running container, with the container's environment and user.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from support.procs import wait_gone

PREFIX = "hr-issue5-"  # containers (and their state) carry the branch name, so leftovers are traceable
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NOBODY = (65534, 65534)
# containerd's default capabilities; a non-root process keeps only the bounding set
CAPABILITIES = [f"CAP_{name}" for name in (
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE")]


@dataclass(frozen=True)
class Container:
    """What a pod spec would say about one container."""

    rootfs: Path
    args: tuple[str, ...]
    stdout: Path  # the container's stdout and stderr: what `kubectl logs` shows
    env: tuple[str, ...] = (PATH_ENV,)
    user: tuple[int, int] = (0, 0)
    readonly: bool = True  # readOnlyRootFilesystem
    tmpfs: tuple[str, ...] = ("/run",)  # writable emptyDir volumes (exec allowed)


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str
    seconds: float


@dataclass
class Running:
    container: Container
    name: str
    pid: int  # host pid of the container's PID 1
    extra: dict[str, object] = field(default_factory=dict)

    def logs(self) -> str:
        return self.container.stdout.read_text(errors="replace")


class Engine(Protocol):
    description: str

    def start(self, container: Container) -> Running: ...
    def exec(self, running: Running, argv: Sequence[str], env: Sequence[str] = (),
             timeout: float = 60.0) -> Result: ...
    def wait_exit(self, running: Running, timeout: float) -> bool: ...
    def remove(self, running: Running) -> None: ...
    def close(self) -> None: ...


Start = Callable[..., Running]  # the `start` fixture: start(rootfs, args, **Container fields)


def hook_events(logs: str) -> list[dict[str, Any]]:
    """hookrun's JSON log lines among a container's output."""
    events = []
    for line in logs.splitlines():
        if line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "hook" in event:
                events.append(event)
    return events


def outputs(running: Running) -> list[str]:
    """What the hooks' commands printed, as hookrun logged it to the container's stdout."""
    return [str(e["message"]) for e in hook_events(running.logs()) if e["event"] == "output"]


def _run(argv: Sequence[str], timeout: float = 30.0,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False,
                          env=env)


def _timed(argv: Sequence[str], timeout: float, env: dict[str, str] | None = None) -> Result:
    started = time.monotonic()
    proc = _run(argv, timeout, env)
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode  # as a shell says
    return Result(code, proc.stdout, proc.stderr, time.monotonic() - started)


def _wait_gone(pid: int, timeout: float) -> bool:
    return wait_gone([pid], timeout) == []


class _Holder:
    """A sleeping process holding a private mount namespace, set up by `script`."""

    def __init__(self, script: str) -> None:
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f'{script} && echo "ready pid=$$" && exec sleep 3600'],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # ends when the holder is ready or has failed
        if not line.startswith("ready pid="):
            self.proc.wait(10)
            raise RuntimeError(f"cannot set up a mount namespace: {self.proc.stderr.read().strip()}"
                               if self.proc.stderr else "cannot set up a mount namespace")
        self.pid = int(line.split("=")[1])

    def enter(self, argv: Sequence[str]) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "-m", *argv]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class Crun:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        version = _run(["crun", "--version"]).stdout.splitlines()[0]
        self.description = (f"{version}, in a private mount namespace with cgroup2 on "
                            "/sys/fs/cgroup, --cgroup-manager=disabled")
        self.holder = _Holder("umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup")
        spec_dir = workdir / "spec"
        spec_dir.mkdir(parents=True, exist_ok=True)
        made = subprocess.run(["crun", "spec"], cwd=spec_dir, capture_output=True, text=True,
                              timeout=10, check=False)
        if made.returncode != 0:
            self.holder.close()
            raise RuntimeError(f"crun spec failed: {made.stderr.strip()}")
        self.template = json.loads((spec_dir / "config.json").read_text())

    def crun(self, *args: str) -> list[str]:
        return self.holder.enter(["crun", "--cgroup-manager=disabled", *args])

    def start(self, container: Container) -> Running:
        name = PREFIX + uuid.uuid4().hex[:8]
        bundle = self.workdir / name
        bundle.mkdir(parents=True)
        config = json.loads(json.dumps(self.template))
        process = config["process"]
        process.update(args=list(container.args), env=list(container.env), terminal=False,
                       cwd="/", user={"uid": container.user[0], "gid": container.user[1]})
        held = CAPABILITIES if container.user[0] == 0 else []
        process["capabilities"] = {"bounding": CAPABILITIES, "effective": held, "permitted": held}
        config["root"] = {"path": str(container.rootfs), "readonly": container.readonly}
        config["hostname"] = name
        config["mounts"] += [
            {"destination": path, "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777", "size=65536k"]}
            for path in container.tmpfs
        ]
        (bundle / "config.json").write_text(json.dumps(config, indent=1))
        # stdout and stderr of the container (and crun's own errors) go to the log file
        with _stdio(container) as out:
            started = subprocess.run(self.crun("run", "--detach", "--bundle", str(bundle), name),
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     timeout=30, check=False)
        state = self._state(name)
        if started.returncode != 0 or not isinstance(state.get("pid"), int):
            _run(self.crun("delete", "--force", name), 10)
            raise RuntimeError(f"crun run failed: {container.stdout.read_text(errors='replace')[-500:]}")
        return Running(container, name, int(state["pid"]))

    def _state(self, name: str) -> dict[str, object]:
        proc = _run(self.crun("state", name), 10)
        state: dict[str, object] = json.loads(proc.stdout) if proc.returncode == 0 else {}
        return state

    def exec(self, running: Running, argv: Sequence[str], env: Sequence[str] = (),
             timeout: float = 60.0) -> Result:
        uid, gid = running.container.user  # the kubelet's exec runs as the container's user
        options = ["--user", f"{uid}:{gid}", *(arg for pair in env for arg in ("--env", pair))]
        return _timed(self.crun("exec", *options, running.name, *argv), timeout)

    def wait_exit(self, running: Running, timeout: float) -> bool:
        return _wait_gone(running.pid, timeout)

    def remove(self, running: Running) -> None:
        _run(self.crun("kill", running.name, "KILL"), 10)
        _wait_gone(running.pid, 5.0)
        _run(self.crun("delete", "--force", running.name), 10)

    def close(self) -> None:
        self.holder.close()


class Chroot:
    """The fallback: PID 1 in its own pid and mount namespaces, chrooted; exec via nsenter."""

    description = "unshare + chroot"

    def start(self, container: Container) -> Running:
        root = str(container.rootfs)
        setup = [f"mount --rbind {root} {root}", f"mount -t proc proc {root}/proc",
                 f"mount --rbind /dev {root}/dev"]
        setup += [f"mkdir -p {root}{path} && mount -t tmpfs -o mode=1777,size=65536k tmpfs {root}{path}"
                  for path in container.tmpfs]
        if container.readonly:
            setup.append(f"mount -o remount,bind,ro {root}")
        uid, gid = container.user
        script = " && ".join(setup) + (
            f' && exec env -i {" ".join(_quote(e) for e in container.env)} '
            f'{shutil.which("chroot") or "/usr/sbin/chroot"} --userspec={uid}:{gid} {root} "$@"')
        with _stdio(container) as out:
            proc = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--mount", "--propagation", "private",
                 "--kill-child", "sh", "-c", script, "sh", *container.args],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        pid = self._pid1(proc.pid)
        return Running(container, PREFIX + uuid.uuid4().hex[:8], pid, {"proc": proc})

    @staticmethod
    def _pid1(unshare_pid: int) -> int:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children").read_text().split()
            except OSError:
                children = []
            if children:
                return int(children[0])
            time.sleep(0.01)
        raise RuntimeError("the container's first process did not start")

    def exec(self, running: Running, argv: Sequence[str], env: Sequence[str] = (),
             timeout: float = 60.0) -> Result:
        uid, gid = running.container.user
        environment = dict(pair.split("=", 1) for pair in (*running.container.env, *env))
        return _timed(["nsenter", "-t", str(running.pid), "-m", "-p", "-r", "-w",
                       "-S", str(uid), "-G", str(gid), *argv], timeout, environment)

    def wait_exit(self, running: Running, timeout: float) -> bool:
        return _wait_gone(running.pid, timeout)

    def remove(self, running: Running) -> None:
        proc = running.extra["proc"]
        assert isinstance(proc, subprocess.Popen)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        pass


def _stdio(container: Container) -> BinaryIO:
    """The container's stdout/stderr file, owned by its user: runc and conmon chown the stdio
    pipes of PID 1 to the container user, which is what lets hooks open /proc/1/fd/1."""
    out = open(container.stdout, "ab")  # noqa: SIM115 (the caller closes it)
    os.fchown(out.fileno(), *container.user)
    return out


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def open_engine(workdir: Path, probe: Container) -> tuple[Engine, str]:
    """crun when it can run `probe` here, else the chroot fallback; and why not crun."""
    if os.environ.get("HOOKRUN_E2E_ENGINE") == "chroot":
        return Chroot(), "HOOKRUN_E2E_ENGINE=chroot"
    try:
        engine = Crun(workdir)
    except (OSError, RuntimeError, subprocess.SubprocessError) as err:
        return Chroot(), f"crun unavailable: {err}"
    try:
        engine.remove(engine.start(probe))
    except (OSError, RuntimeError, subprocess.SubprocessError) as err:
        engine.close()
        return Chroot(), f"crun cannot run a container here: {err}"
    return engine, ""
