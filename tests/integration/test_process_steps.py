"""signal and wait_exit against real processes, through the real CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import Procs, write_config
from support.cli import run_hookrun
from support.procs import holds_pidfd, state, wait_until


def hook(steps: str, timeout: str = "10s") -> str:
    return f'[run]\ntimeout = "{timeout}"\non_failure = "continue"\n{steps}'


def test_quit_by_pidfile_then_wait_for_exit(tmp_path: Path, procs: Procs, unique: str) -> None:
    pidfile = tmp_path / "app.pid"
    # it takes 0.3 s to exit: still there when wait_exit first looks, however busy the machine
    app = procs.python_named(unique, "--exit-on", "QUIT", "--exit-delay", "0.3", "--pidfile", str(pidfile))
    config = write_config(tmp_path, hook(f'''
[[run.steps]]
name = "quit"
signal = {{ pidfile = "{pidfile}", signal = "QUIT" }}
[[run.steps]]
name = "gone"
wait_exit = {{ process = "{unique}" }}
'''))
    result = run_hookrun(config, "run", "run")
    assert result.code == 0, result.out
    assert f"sent SIGQUIT to pid {app.pid} ({unique})" in result.out
    assert "1 process exited" in result.out
    assert app.wait(timeout=5) == 0
    assert app.stdout is not None and "got SIGQUIT" in app.stdout.read()


def test_all_false_signals_only_the_oldest(tmp_path: Path, procs: Procs, unique: str) -> None:
    apps = [procs.python_named(unique, "--log-on", "USR1") for _ in range(3)]
    config = write_config(tmp_path, hook(f'''
[[run.steps]]
name = "poke"
signal = {{ process = "{unique}", signal = "USR1", all = false }}
[[run.steps]]
name = "poke-all"
signal = {{ cmdline = "{unique} .*target\\\\.py", signal = "SIGUSR1" }}
'''))
    result = run_hookrun(config, "run", "run")
    assert result.code == 0, result.out
    assert f"sent SIGUSR1 to pid {apps[0].pid} ({unique})" in result.out
    assert "sent SIGUSR1 to 3 processes" in result.out
    for app in apps:
        os.killpg(app.pid, 9)
        app.wait(timeout=5)
    outputs = [app.stdout.read() if app.stdout else "" for app in apps]
    assert [out.count("got SIGUSR1") for out in outputs] == [2, 1, 1]


def test_no_match_fails_unless_missing_ok(tmp_path: Path, unique: str) -> None:
    config = write_config(tmp_path, hook(f'''
[[run.steps]]
name = "optional"
signal = {{ process = "{unique}", missing_ok = true }}
[[run.steps]]
name = "required"
signal = {{ pidfile = "{tmp_path}/none.pid" }}
'''))
    result = run_hookrun(config, "run", "run")
    assert result.code == 1, result.out
    assert f"optional: ok: no process matched processes named {unique}: nothing to signal" in result.out
    assert "required: failed: no process matched the pid in" in result.out
    assert "set missing_ok = true" in result.out


def test_never_targets_itself_or_its_ancestors(tmp_path: Path) -> None:
    # the pattern names this test's own config file: it matches this hookrun and nothing else
    own = re.escape(str(tmp_path / "hookrun.toml"))
    config = write_config(tmp_path, hook(f'''
[[run.steps]]
name = "self"
signal = {{ cmdline = '-m hookrun --config {own}', signal = "KILL", missing_ok = true }}
[[run.steps]]
name = "parent"
signal = {{ pid = {os.getpid()}, signal = "KILL" }}
[[run.steps]]
name = "wait-self"
wait_exit = {{ cmdline = '-m hookrun --config {own}' }}
timeout = "2s"
[[run.steps]]
name = "kernel-threads"
wait_exit = {{ cmdline = "kworker|kthreadd|ksoftirqd" }}
timeout = "2s"
[[run.steps]]
name = "after"
sleep = "1ms"
'''))
    result = run_hookrun(config, "run", "run")
    assert result.code == 1, result.out
    assert "self: ok: no process matched" in result.out
    assert f"parent: failed: pid {os.getpid()} is hookrun itself, one of its ancestors" in result.out
    assert "wait-self: ok: no process matched" in result.out
    assert "kernel-threads: ok: no process matched" in result.out  # never targets
    assert "after: ok" in result.out


def test_bad_pidfile_is_a_clear_failure(tmp_path: Path) -> None:
    pidfile = tmp_path / "bad.pid"
    pidfile.write_text("nginx\n")
    config = write_config(tmp_path, hook(f'''
[[run.steps]]
name = "wait"
wait_exit = {{ pidfile = "{pidfile}" }}
'''))
    result = run_hookrun(config, "run", "run")
    assert result.code == 1, result.out
    assert f"pidfile {pidfile} does not hold a pid (it starts with 'nginx')" in result.out


def test_zombie_counts_as_exited(tmp_path: Path, procs: Procs) -> None:
    child = procs.start(["sleep", "0"])
    for _ in range(500):  # not reaped: a zombie once it has exited
        if state(child.pid) == "Z":
            break
        time.sleep(0.01)
    assert state(child.pid) == "Z"
    config = write_config(tmp_path, hook(f'''
[[run.steps]]
name = "wait"
wait_exit = {{ pid = {child.pid} }}
'''))
    result = run_hookrun(config, "run", "run")
    assert result.code == 0, result.out
    assert "wait: ok: no process matched" in result.out
    assert result.seconds < 5


def test_wait_exit_wakes_on_exit_and_sees_late_processes(tmp_path: Path, procs: Procs,
                                                        unique: str) -> None:
    """The first target exits after 1 s; a second one appears at 0.5 s and exits at 2.5 s."""
    sleep = procs.named(unique, "/bin/sleep")
    config = write_config(tmp_path, hook(f'''
[[run.steps]]
name = "wait"
wait_exit = {{ process = "{unique}" }}
'''))
    first = procs.start([sleep, "1"])
    started = time.monotonic()
    late: list[subprocess.Popen[str]] = []
    timer = threading.Timer(0.5, lambda: late.append(procs.start([sleep, "2"])))
    timer.start()
    result = run_hookrun(config, "run", "run")
    timer.join()
    ended = time.monotonic() - started
    assert result.code == 0, result.out
    assert "2 processes exited" in result.out
    assert first.poll() is not None and late[0].poll() is not None
    assert 2.4 <= ended <= 3.5, result.out


def test_wait_exit_returns_promptly_after_the_exit(tmp_path: Path, procs: Procs, unique: str) -> None:
    app = procs.python_named(unique, "--exit-on", "TERM")
    config = write_config(tmp_path, hook(f'''
[[run.steps]]
name = "wait"
wait_exit = {{ pid = {app.pid} }}
'''))
    hookrun = subprocess.Popen(
        [sys.executable, "-m", "hookrun", "--config", str(config), "--log-target", "stderr",
         "run", "run"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert hookrun.stdout is not None
        line = hookrun.stdout.readline()
        assert "wait: start:" in line, line
        wait_until(lambda: holds_pidfd(hookrun.pid), 10, "hookrun waits on the target's pidfd")
        assert hookrun.poll() is None
        killed = time.monotonic()
        os.kill(app.pid, 15)
        code = hookrun.wait(timeout=10)
        latency = time.monotonic() - killed
    finally:
        if hookrun.poll() is None:
            hookrun.kill()
            hookrun.wait()
    assert code == 0
    assert 0.0 < latency < 0.5


def test_wait_exit_times_out_on_a_process_that_stays(tmp_path: Path, procs: Procs, unique: str) -> None:
    app = procs.python_named(unique)
    config = write_config(tmp_path, hook(f'''
[[run.steps]]
name = "wait"
wait_exit = {{ process = "{unique}" }}
timeout = "1s"
'''))
    result = run_hookrun(config, "run", "run")
    assert result.code == 1, result.out
    assert f"wait: timeout: still running: pid {app.pid} ({unique}); step timeout 1s reached" in result.out
    assert 1.0 <= result.seconds <= 3.0
    assert app.poll() is None
