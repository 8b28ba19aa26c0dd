"""podman and buildah with this project's settings (build/engine.sh: build/containers.conf and
build/storage.conf): build images from Dockerfile.example, run containers, start hooks in them
the way the kubelet does (an exec into the running container, as its user)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import tarfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "build" / "engine.sh"
DOCKERFILE = ROOT / "Dockerfile.example"
PREFIX = "hr-podman-"  # containers and volumes of these tests, so leftovers are traceable


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str
    seconds: float


def run(*argv: str, timeout: float = 60.0) -> Done:
    started = time.monotonic()
    proc = subprocess.run([str(ENGINE), *argv], capture_output=True, text=True, timeout=timeout,
                          check=False)
    return Done(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def must(*argv: str, timeout: float = 60.0) -> str:
    done = run(*argv, timeout=timeout)
    assert done.code == 0, f"{' '.join(argv)}: exit {done.code}\n{done.out[-2000:]}\n{done.err[-3000:]}"
    return done.out


def build(target: str, tag: str, options: Sequence[str], context: Path = ROOT,
          dockerfile: Path = DOCKERFILE, timeout: float = 1200.0) -> float:
    """buildah build of one target; returns the seconds it took. Never pulls: the base images
    are local (build/base-images.sh)."""
    done = run("buildah", "build", "--layers", "--pull=never", *options, "-f", str(dockerfile),
               "--target", target, "-t", tag, str(context), timeout=timeout)
    assert done.code == 0, f"building {target} failed:\n{done.out[-4000:]}\n{done.err[-4000:]}"
    return done.seconds


def files_of(image: str) -> dict[str, tarfile.TarInfo]:
    """Every path in an image's file system (from `podman export` of a container of it)."""
    name = PREFIX + uuid.uuid4().hex[:8]
    must("podman", "create", "--name", name, image)
    try:
        tar = subprocess.run([str(ENGINE), "podman", "export", name], capture_output=True,
                             timeout=60, check=True).stdout
    finally:
        run("podman", "rm", "-f", name)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        return {member.name.lstrip("./").rstrip("/"): member for member in archive.getmembers()}


class Containers:
    """Containers and volumes of one test; removed at teardown."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.volumes: list[str] = []

    def start(self, image: str, *args: str, options: Sequence[str] = (), ready: str = "") -> str:
        """`podman run --detach`; with `ready`, waits (10 s at most) until the logs show it."""
        name = PREFIX + uuid.uuid4().hex[:8]
        self.names.append(name)
        must("podman", "run", "--detach", "--name", name, *options, image, *args)
        deadline = time.monotonic() + 10
        while ready and ready not in self.logs(name):
            assert time.monotonic() < deadline and self.running(name), (
                f"{image} did not start; its output:\n{self.logs(name)}")
            time.sleep(0.05)
        return name

    def logs(self, name: str) -> str:
        """What `kubectl logs` would show: the main process's stdout and stderr."""
        done = run("podman", "logs", name)
        return done.out + done.err

    def exec(self, name: str, *argv: str, timeout: float = 60.0) -> Done:
        """A hook as the kubelet starts it: an exec into the container, as the container's user."""
        return run("podman", "exec", name, *argv, timeout=timeout)

    def inspect(self, name: str, template: str) -> str:
        return must("podman", "inspect", "--format", template, name).strip()

    def running(self, name: str) -> bool:
        return self.inspect(name, "{{.State.Status}}") == "running"

    def wait_exit(self, name: str, timeout: float) -> int:
        """The container's exit code, once its main process has exited."""
        deadline = time.monotonic() + timeout
        while self.running(name):
            assert time.monotonic() < deadline, f"{name} still runs after {timeout} s:\n{self.logs(name)}"
            time.sleep(0.05)
        return int(self.inspect(name, "{{.State.ExitCode}}"))

    def volume(self) -> str:
        """A named volume made like an emptyDir: empty, and writable by every user."""
        name = PREFIX + uuid.uuid4().hex[:8]
        self.volumes.append(name)
        must("podman", "volume", "create", name)
        Path(must("podman", "volume", "inspect", "--format", "{{.Mountpoint}}", name).strip()).chmod(0o777)
        return name

    def cleanup(self) -> None:
        for name in self.names:
            with contextlib.suppress(subprocess.SubprocessError):
                run("podman", "rm", "--force", "--time", "0", name)
        for name in self.volumes:
            with contextlib.suppress(subprocess.SubprocessError):
                run("podman", "volume", "rm", "--force", name)
