"""hookrun inside a PID namespace whose PID 1 is the app, as in a container."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path
from subprocess import PIPE

import psutil
import pytest
from conftest import Procs, nginx_argv, wait_accepting, write_config
from support.cli import HOOKRUN, hook_env
from support.procs import read_until, wait_gone

from hookrun.system.procfs import processes as scan

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None,
    reason="needs root, unshare(1) and nsenter(1) for a PID namespace")

APP = """
import os, sys, time
print(f"ready pid={os.getpid()}", flush=True)
for line in sys.stdin:  # runs until the test closes stdin (bounded by the test's cleanup)
    pass
"""


def start_app(procs: Procs, env: dict[str, str]) -> tuple[int, object]:
    """The app as PID 1 of a new PID namespace; its pid as seen from here."""
    app = procs.start(["unshare", "--pid", "--fork", "--kill-child", "--mount-proc",
                        sys.executable, "-c", APP], env=env, stdin=PIPE)
    assert app.stdout is not None
    assert read_until(app.stdout, r"ready pid=1$", 10) == ["ready pid=1\n"]
    [child] = psutil.Process(app.pid).children()
    return child.pid, app


def test_auto_log_target_reaches_pid1_stdout(tmp_path: Path, procs: Procs) -> None:
    write_config(tmp_path, """
[check]
[[check.steps]]
name = "hello"
exec = ["echo", "hi from the hook"]
""")
    env = hook_env(tmp_path, HOOKRUN_LOG_TARGET="auto")
    pid1, app = start_app(procs, env)
    hook = procs.start(["nsenter", f"--target={pid1}", "--pid", "--mount", "--", *HOOKRUN,
                         "run", "check"], env=env, stderr=PIPE)
    assert hook.wait(timeout=30) == 0
    own_out, own_err = hook.communicate()
    lines = read_until(app.stdout, r"summary", 10)  # type: ignore[attr-defined]
    assert lines[0].startswith("hookrun check hello: start: run echo hi from the hook")
    assert "hookrun check hello: | hi from the hook\n" in lines
    assert lines[-1].startswith("hookrun check: summary: 1 ok, 0 failed, 0 skipped")
    assert own_out == ""
    assert own_err.splitlines() == [lines[-1].rstrip("\n")]  # only what matters is echoed


def start_nginx_as_pid1(procs: Procs, tmp_path: Path, name: str, env: dict[str, str]) -> tuple[int, Path]:
    """nginx (master + workers, all named `name`) as PID 1 of a new PID namespace."""
    prefix = tmp_path / "nginx"
    argv, port = nginx_argv(prefix, name)
    app = procs.start(["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", *argv], env=env)
    wait_accepting(port, lambda: app.poll() is None, (prefix / "error.log").read_text)
    assert (prefix / "nginx.pid").read_text().strip() == "1"
    [master] = psutil.Process(app.pid).children()
    return master.pid, prefix


def test_quitting_nginx_as_pid1_leaves_markers_and_summary(tmp_path: Path, procs: Procs,
                                                           unique: str) -> None:
    """hookrun dies with the PID namespace when PID 1 exits: what must survive is written first."""
    term = tmp_path / "termination-log"
    env = hook_env(tmp_path)
    master, prefix = start_nginx_as_pid1(procs, tmp_path, unique, env)
    write_config(tmp_path, f"""
[settings]
termination_message = true
termination_message_path = "{term}"
[prestop]
[[prestop.steps]]
name = "note"
once = true
exec = ["true"]
[[prestop.steps]]
name = "quit"
once = true
signal = {{ pidfile = "{prefix / 'nginx.pid'}", signal = "QUIT" }}
[[prestop.steps]]
name = "wait-exit"
wait_exit = {{ process = "{unique}" }}
""")
    hook = procs.start(["nsenter", f"--target={master}", "--pid", "--mount", "--", *HOOKRUN,
                        "prestop"], env=env, stderr=PIPE)
    code = hook.wait(timeout=30)
    _, err = hook.communicate()
    assert code == -signal.SIGKILL, err  # killed with everything in the namespace
    assert "hookrun prestop quit: start: send SIGQUIT to the pid in" in err
    lines = err.splitlines()
    [summary] = [i for i, line in enumerate(lines) if " summary: " in line]
    assert lines[summary].startswith("hookrun prestop: summary: 2 ok, 0 failed, 1 skipped in ")
    assert lines[summary].endswith("; exit 0 (written ahead: PID 1 was signalled, and hookrun ends "
                                   "when it exits)")
    # until nginx has finished quitting, hookrun goes on: the signal's own ok, the next step
    assert all(line.startswith(("hookrun prestop quit: ok: sent SIGQUIT to pid 1 (",
                                "hookrun prestop wait-exit: ")) for line in lines[summary + 1:])
    markers = sorted(p.name.split(".")[2] for p in (tmp_path / "state").glob("once.*"))
    assert markers == ["note", "quit"]
    assert list((tmp_path / "state").glob(".*")) == []  # no temp file
    assert term.read_text().splitlines() == [
        lines[summary].replace(" summary: ", " ", 1).split(" (written ahead")[0],
        "note: ok: true exited 0",
        "quit: ok: sent SIGQUIT to pid 1; PID 1 exiting counts as done",
        "wait-exit: skipped: PID 1 was signalled; the container stops when it exits",
    ]
    assert wait_gone([p.pid for p in scan() if p.name == unique], 5.0) == []


SOFT_STOP_APP = """
import os, signal, sys, time
signal.signal(signal.SIGUSR1, lambda *_: sys.exit(0))  # a soft stop on USR1, as haproxy's
print(f"ready pid={os.getpid()}", flush=True)
for line in sys.stdin:  # runs until USR1, or until the test closes stdin
    pass
"""


@pytest.mark.parametrize("stops", [True, False])
def test_a_signal_that_stops_pid1_is_accounted_for_first(tmp_path: Path, procs: Procs, stops: bool) -> None:
    """USR1 is no stopping signal by default; `stops = true` says it is (haproxy's soft stop):
    the account is written before PID 1 exits with the hook in its namespace. Without it,
    wait-exit runs and is killed with the container."""
    write_config(tmp_path, f"""
[prestop]
[[prestop.steps]]
name = "soft-stop"
signal = {{ pid = 1, signal = "USR1"{", stops = true" if stops else ""} }}
[[prestop.steps]]
name = "wait-exit"
wait_exit = {{ pid = 1 }}
""")
    env = hook_env(tmp_path)
    app = procs.start(["unshare", "--pid", "--fork", "--kill-child", "--mount-proc",
                       sys.executable, "-c", SOFT_STOP_APP], env=env, stdin=PIPE)
    assert app.stdout is not None
    assert read_until(app.stdout, r"ready pid=1$", 10) == ["ready pid=1\n"]
    [pid1] = psutil.Process(app.pid).children()
    hook = procs.start(["nsenter", f"--target={pid1.pid}", "--pid", "--mount", "--", *HOOKRUN, "prestop"],
                       env=env, stderr=PIPE)
    code = hook.wait(timeout=30)
    _, err = hook.communicate()
    assert code == -signal.SIGKILL, err  # killed with everything in the namespace
    assert app.wait(timeout=10) == 0, err  # the app took USR1 as its stop
    summaries = [line for line in err.splitlines() if " summary: " in line]
    if stops:
        assert "send SIGUSR1 to pid 1 (stops = true)" in err
        assert "soft-stop: ok: sent SIGUSR1 to pid 1; PID 1 exiting counts as done" in err
        assert len(summaries) == 1 and summaries[0].startswith("hookrun prestop: summary: 1 ok, 0 failed, 1 skipped")
        assert summaries[0].endswith("(written ahead: PID 1 was signalled, and hookrun ends when it exits)")
    else:
        assert "hookrun prestop wait-exit: start: " in err and summaries == [], err
