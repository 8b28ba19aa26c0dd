"""Fixtures for the tests of the BUILT binaries (dist/, made by `make binary`).

A plugin module (the test modules name it in `pytest_plugins`), not a conftest.py: the tests
of other directories import their own `conftest` by that name.
"""

from __future__ import annotations

import os
import platform
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from built import ARM64, ARM64_APP, ARM64_ENV, ARM64_ON_HOST, BINARIES, DIST, ROOT
from containers import Container, Engine, Running, Start, open_engine
from rootfs import APP_ARGS, NGINX_ARGS, compile_tools, nginx_rootfs, static_rootfs

_engine_notes: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say which container engine ran the tests (shown with -q too)."""
    for note in _engine_notes:
        terminalreporter.write_line(f"e2e: hooks ran inside containers run by {note}")


def _unavailable(reason: str) -> None:
    """Skip with the reason; in CI (CI=true) a missing prerequisite is a failure instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the tests of the built binaries must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def dist() -> Path:
    missing = [name for name in BINARIES if not (DIST / name).is_file()]
    if missing:
        _unavailable(f"built binaries missing in {DIST}: {', '.join(missing)} (run `make binary`)")
    return DIST


@pytest.fixture(scope="session")
def arm64_dist() -> Path:
    """dist/arm64, run by qemu-user. Skipped when not built, unless HOOKRUN_REQUIRE_ARM64=1
    (CI sets it: there a missing arm64 build is a failure)."""
    required = os.environ.get("HOOKRUN_REQUIRE_ARM64") == "1"

    def unavailable(reason: str) -> None:
        if required:
            pytest.fail(f"{reason} (HOOKRUN_REQUIRE_ARM64=1: the arm64 tests must run)", pytrace=False)
        pytest.skip(reason)

    sysroot = Path(ARM64_ENV["QEMU_LD_PREFIX"], "lib")
    missing = [str(path) for path in (*ARM64_ON_HOST.values(), ARM64_APP, sysroot) if not path.exists()]
    if missing:
        unavailable(f"arm64 build missing: {', '.join(missing)} (run `make binary ARCH=arm64`)")
    handler = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if platform.machine() != "aarch64" and (not handler.is_file()
                                            or "enabled" not in handler.read_text().split()):
        unavailable(f"no qemu-user handler for aarch64 programs ({handler}; "
                    "build/arm64-root.sh installs and registers it)")
    return ARM64


@pytest.fixture(scope="session")
def as_root() -> None:
    if os.geteuid() != 0:
        _unavailable("the container tests need root (namespaces, mounts, crun)")
    for tool in ("crun", "unshare", "nsenter", "musl-gcc", "gcc"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} is not installed (build/system-deps.sh installs it)")


@pytest.fixture(scope="session")
def tools(as_root: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return compile_tools(tmp_path_factory.mktemp("tools"))


# --- hook configs baked into the test images ----------------------------------------------------
COMMON = """\
[settings]
grace_period = "30s"
shutdown_reserve = "5s"
log_format = "json"
state_dir = "/run/hookrun"
"""
CONFIGS = {
    "hello.toml": COMMON + """
[prestop]
[[prestop.steps]]
name = "hello"
shell = '''
while read -r key value rest; do [ "$key" = Uid: ] && uid=$value; done < /proc/self/status
echo "hello from the image: uid=$uid TMPDIR=$${TMPDIR:-unset}"  # $$: for the shell, not hookrun
'''
""",
    "libpath.toml": COMMON + """
[prestop]
[[prestop.steps]]
name = "sh"
shell = '''
leaked=$(export -p | while read -r _ v; do case $v in _PYI*|STATICX*) printf "%s " "$${v%%=*}";; esac; done)
echo "sh sees LD_LIBRARY_PATH=$${LD_LIBRARY_PATH:-(unset)}, bundle variables: $${leaked:-none}"
'''
[[prestop.steps]]
name = "probe"
exec = ["/opt/probe/bin/probe"]
on_failure = "ignore"
""",
    "nginx-exec.toml": COMMON + """
[prestop]
[[prestop.steps]]
name = "quit"
exec = ["/usr/sbin/nginx", "-s", "quit"]
timeout = "5s"
[[prestop.steps]]
name = "wait-exit"
wait_file = { path = "/run/nginx.pid", state = "absent" }
timeout = "10s"
""",
    "shellless.toml": COMMON + """
[poststart]
timeout = "20s"
[[poststart.steps]]
name = "wait-app"
wait_file = { path = "/run/app.pid" }
timeout = "10s"
[[poststart.steps]]
name = "hello"
exec = ["/app", "echo", "poststart in an image without a shell"]

[prestop]
[[prestop.steps]]
name = "stop-app"
exec = ["/app", "kill", "/run/app.pid", "15"]
timeout = "5s"
[[prestop.steps]]
name = "wait-app"
wait_file = { path = "/run/app.pid", state = "absent" }
timeout = "10s"
""",
}


@pytest.fixture(scope="session")
def nginx_root(dist: Path, tools: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    shipped = {"nginx.toml": (ROOT / "config" / "nginx.toml").read_text()}  # as users get it
    return nginx_rootfs(tmp_path_factory.mktemp("nginx-root"), dist, tools, {**CONFIGS, **shipped})


@pytest.fixture(scope="session")
def static_root(dist: Path, tools: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = static_rootfs(tmp_path_factory.mktemp("static-root"), dist, tools,
                         {"hookrun.toml": CONFIGS["shellless.toml"]})
    return root


@pytest.fixture(scope="session")
def arm64_static_root(arm64_dist: Path, as_root: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shell-less image for aarch64: its static hookrun and app run through binfmt_misc,
    whose F flag makes qemu usable inside a root that has no qemu."""
    return static_rootfs(tmp_path_factory.mktemp("arm64-static-root"), arm64_dist, {"app": ARM64_APP},
                         {"hookrun.toml": CONFIGS["shellless.toml"]})


def engine_for(static_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The container engine, probed with the shell-less image `static_root`."""
    work = tmp_path_factory.mktemp("bundles")
    probe = Container(static_root, APP_ARGS, work / "probe.log")
    engine, why_not_crun = open_engine(work, probe)
    _engine_notes.append(engine.description + (f" ({why_not_crun})" if why_not_crun else ""))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def engine(static_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from engine_for(static_root, tmp_path_factory)


@pytest.fixture(scope="session")
def arm64_engine(arm64_static_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The same engine, probed with the arm64 image (test_arm64.py makes it its `engine`)."""
    yield from engine_for(arm64_static_root, tmp_path_factory)


READY = {NGINX_ARGS[0]: "start worker process", APP_ARGS[0]: "app ready pid="}


@pytest.fixture
def start(engine: Engine, tmp_path: Path) -> Iterator[Start]:
    """start(rootfs, args, **Container fields) -> a running container, removed after the test."""
    started: list[Running] = []

    def run(rootfs: Path, args: tuple[str, ...], **options: Any) -> Running:
        running = engine.start(Container(rootfs, args, tmp_path / f"stdout-{len(started)}.log",
                                         **options))
        started.append(running)
        ready = READY[args[0]]
        deadline = time.monotonic() + 10
        while ready not in running.logs():  # the app says when it is ready
            if time.monotonic() > deadline or engine.wait_exit(running, 0.0):
                pytest.fail(f"{args[0]} did not start; its output:\n{running.logs()}")
            time.sleep(0.02)
        return running

    yield run
    for running in started:
        engine.remove(running)
