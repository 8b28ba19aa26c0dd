"""The arm64 (aarch64) build, dist/arm64/ (`make binary ARCH=arm64`), run on this machine by
qemu-user through binfmt_misc: the same executables an arm64 node runs, emulated. The one-file
and one-dir builds load the arm64 C library from dist/arm64/tests/sysroot (QEMU_LD_PREFIX).

qemu-user is slow (start-up takes seconds, not tens of milliseconds), so the upper bounds of the
timing checks are generous; the lower bounds are exact. Skipped when dist/arm64 is missing,
unless HOOKRUN_REQUIRE_ARM64=1 (CI).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from built import ARM64_ENV, ARM64_ON_HOST
from conftest import Procs
from containers import NOBODY, Engine, Start, outputs
from rootfs import APP_ARGS
from support import TARGET
from support.procs import alive
from support.servers import ScriptedServer

from hookrun import __version__

pytest_plugins = ["e2e_fixtures"]
Config = Callable[[str], Path]  # the `config` fixture: writes the hook config of a test
VARIANTS = tuple(ARM64_ON_HOST)
SLOW = 20.0  # seconds: what qemu may add to a bound (start-up, unpacking, exit)
EM_AARCH64 = 183  # e_machine of an ELF file for aarch64


@pytest.fixture(scope="module")
def engine(arm64_engine: Engine) -> Engine:
    """The `start` fixture's engine, here probed with the arm64 shell-less image."""
    return arm64_engine


def hookrun(variant: str, *args: str, env: dict[str, str] | None = None,
            timeout: float = 120.0) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run one arm64 variant (stdout, logs on stderr) and time it."""
    started = time.monotonic()
    done = subprocess.run([str(ARM64_ON_HOST[variant]), *args], capture_output=True, text=True,
                          timeout=timeout, check=False,
                          env={"PATH": "/usr/bin:/bin", "HOOKRUN_LOG_TARGET": "stderr", **ARM64_ENV,
                               **(env or {})})
    return done, time.monotonic() - started


def prestop(variant: str, config: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """The prestop hook of `config`, unpacking to and keeping state in the config's directory."""
    return hookrun(variant, "--config", str(config), "prestop",
                   env={"TMPDIR": str(config.parent), "HOOKRUN_STATE_DIR": str(config.parent / "state")})


def events(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("variant", VARIANTS)
def test_an_aarch64_executable_that_checks_itself(variant: str, arm64_dist: Path) -> None:
    with open(ARM64_ON_HOST[variant], "rb") as elf:
        header = elf.read(20)
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == EM_AARCH64
    result, _ = hookrun(variant, "version", "--check")
    assert result.returncode == 0, result
    assert result.stdout.startswith(f"hookrun {__version__} ({variant}, "), result.stdout
    checks = [line.split()[:2] for line in result.stdout.splitlines()[1:]]
    assert checks == [["ok", "modules:"], ["ok", "libc:"], ["ok", "toml:"], ["ok", "psutil:"],
                      ["ok", "http:"]]


NOOP = """\
[settings]
grace_period = "30s"
[prestop]
[[prestop.steps]]
name = "noop"
sleep = "0s"
"""


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_no_op_hook(variant: str, arm64_dist: Path, config: Config, tmp_path: Path) -> None:
    result, seconds = prestop(variant, config(NOOP))
    assert result.returncode == 0, result
    assert "hookrun prestop noop: ok" in result.stderr
    assert "summary: 1 ok, 0 failed, 0 skipped" in result.stderr
    assert seconds < SLOW, seconds
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("_MEI")]  # bundle removed


STUBBORN = """\
[settings]
grace_period = "7s"
shutdown_reserve = "1s"
log_format = "json"
[prestop]
[[prestop.steps]]
name = "stubborn"
exec = ["/bin/sh", "-c", "trap '' TERM; echo $$$$ > {pidfile}; echo started; sleep 60"]
[[prestop.steps]]
name = "never"
sleep = "0s"
"""


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_command_ignoring_sigterm_is_cut_at_the_budget(variant: str, arm64_dist: Path, config: Config,
                                                          tmp_path: Path) -> None:
    """The budget (7 s - 1 s) counts from the first process of the build (the launcher), so the
    run ends 6 s after it was started however long qemu took to start Python."""
    pidfile = tmp_path / "sh.pid"
    result, seconds = prestop(variant, config(STUBBORN.format(pidfile=pidfile)))
    shell = int(pidfile.read_text())
    survived = alive(shell)
    if survived:  # nothing outlives the test, whatever happened
        os.killpg(shell, signal.SIGKILL)
    assert not survived, "the TERM-ignoring command survived its hook"
    assert result.returncode == 124, result
    log = events(result.stderr)
    cut = [e for e in log if e["step"] == "stubborn" and e["event"] == "timeout"]
    assert cut and "the hook's budget ran out" in cut[0]["message"], result.stderr
    assert [e["event"] for e in log if e["step"] == "never"] == ["skipped"], result.stderr
    assert 6.0 - 0.05 <= seconds <= 6.0 + SLOW / 2, seconds  # 0.05: start times are in 10 ms ticks


WAIT_EXIT = """\
[settings]
grace_period = "60s"
[prestop]
[[prestop.steps]]
name = "wait-gone"
wait_exit = {{ pid = {pid} }}
"""


@pytest.mark.parametrize("variant", VARIANTS)
def test_wait_exit_returns_when_the_process_exits(variant: str, arm64_dist: Path, config: Config,
                                                  tmp_path: Path, procs: Procs) -> None:
    target = procs.start([sys.executable, str(TARGET)], ready=True)
    path = config(WAIT_EXIT.format(pid=target.pid))
    hook = procs.start([str(ARM64_ON_HOST[variant]), "--config", str(path), "prestop"],
                       env={"PATH": "/usr/bin:/bin", "HOOKRUN_LOG_TARGET": "stderr", **ARM64_ENV,
                            "TMPDIR": str(tmp_path), "HOOKRUN_STATE_DIR": str(tmp_path / "state")})
    assert hook.stdout is not None
    lines = []
    for line in hook.stdout:  # logs on stderr, merged: wait until the step is waiting
        lines.append(line)
        if "wait-gone: start" in line:
            break
    with pytest.raises(subprocess.TimeoutExpired):  # the lower bound: no return while it lives
        hook.wait(timeout=1.0)
    target.kill()
    killed = time.monotonic()
    rest, _ = hook.communicate(timeout=60)
    latency = time.monotonic() - killed
    assert hook.returncode == 0, "".join(lines) + rest
    assert "wait-gone: ok: 1 process exited" in rest, rest
    assert latency < SLOW / 2, latency


@pytest.mark.parametrize("variant", VARIANTS)
def test_an_http_step_against_a_loopback_server(variant: str, arm64_dist: Path, config: Config,
                                                http_server: Callable[..., ScriptedServer]) -> None:
    server = http_server(("status", 204))
    path = config(f"""\
[settings]
grace_period = "30s"
[prestop]
[[prestop.steps]]
name = "deregister"
http = {{ method = "POST", url = "{server.url}/deregister", json = {{ pod = "arm64" }} }}
timeout = "{SLOW}s"
""")
    result, seconds = prestop(variant, path)
    assert result.returncode == 0, result
    assert f"deregister: ok: HTTP 204 from POST {server.url}/deregister" in result.stderr
    assert [(r.method, r.path, json.loads(r.body)) for r in server.requests] == [
        ("POST", "/deregister", {"pod": "arm64"})]
    assert seconds < SLOW, seconds


def test_shell_less_arm64_image(start: Start, engine: Engine, arm64_static_root: Path) -> None:
    """The static aarch64 build in an image with no shell and no libc, next to an aarch64 app:
    hooks started the way the kubelet starts them (an exec into the running container)."""
    app = start(arm64_static_root, APP_ARGS, user=NOBODY, env=("TMPDIR=/run",))
    assert engine.exec(app, ["/hookrun", "validate"], timeout=120).code == 0
    result = engine.exec(app, ["/hookrun", "poststart"], timeout=120)
    assert result.code == 0, result
    assert outputs(app) == ["poststart in an image without a shell"]
    result = engine.exec(app, ["/hookrun", "prestop"], timeout=120)
    # the app is PID 1: its exit ends the container and the exec with it (code 137 or 0)
    assert engine.wait_exit(app, 10.0), result
    assert "app: signal 15, exiting" in app.logs()
    assert result.seconds < 2 * SLOW, result
