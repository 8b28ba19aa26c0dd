"""Hostile surroundings: log targets nobody reads, FIFOs where files are expected, a full state
volume, a signal in the lock wait, a second poststart when prestop starts, more processes than
open files. The budget holds in each, and nothing is lost or left behind."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Procs, write_config
from support import ROOT
from support.cli import hookrun_argv, run_hookrun
from support.procs import READY, holds_pidfd, read_until, state, wait_gone, wait_until

FLOOD = json.dumps([sys.executable, "-c", "import sys\nfor i in range(3000): sys.stdout.write('x' * 90 + '\\n')"])


def start(args: list[str], env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen([*hookrun_argv(), *args], cwd=ROOT, text=True, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]


def test_a_log_pipe_nobody_reads_never_delays_the_deadline(tmp_path: Path) -> None:
    """~270 KB of command output into a FIFO whose reader never reads: the hook ends in time,
    the lines it could not write are counted in the summary on stderr."""
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # open, never read
    try:
        config = write_config(tmp_path, f'''
[poststart]
timeout = "2s"
[[poststart.steps]]
name = "flood"
exec = {FLOOD}
''')
        started = time.monotonic()
        proc = start(["--config", str(config), "--log-target", str(fifo), "poststart"])
        _, err = proc.communicate(timeout=20)
        seconds = time.monotonic() - started
    finally:
        os.close(reader)
    assert proc.returncode == 0, err
    assert seconds < 2.0 + 1.0, err
    [summary] = [line for line in err.splitlines() if " summary: " in line]
    assert "1 ok, 0 failed" in summary and "log line(s) dropped: the log target did not keep up" in summary


def test_fifos_where_files_belong_never_block(tmp_path: Path) -> None:
    fifo = tmp_path / "a.fifo"
    os.mkfifo(fifo)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.mkfifo(state / "run.lock")  # planted under the lock's name
    config = write_config(tmp_path, f'''
[settings]
state_dir = "{state}"
termination_message = true
termination_message_path = "{fifo}"
[prestop]
timeout = "3s"
on_failure = "continue"
[[prestop.steps]]
name = "into-fifo"
write = {{ path = "{fifo}", text = "x" }}
[[prestop.steps]]
name = "pidfile-fifo"
signal = {{ pidfile = "{fifo}" }}
''')
    run = run_hookrun(config, "prestop", timeout=20)
    assert run.code == 1, run.out
    assert run.seconds < 3.0, run.out
    assert f"into-fifo: failed: cannot write {fifo}: is a FIFO, not a regular file" in run.out
    assert f"cannot read pidfile {fifo}: is a FIFO, not a regular file" in run.out
    assert f"cannot write the termination message to {fifo}: is a FIFO, not a regular file" in run.out
    proc = start(["--config", str(config), "--log-target", str(fifo), "prestop"])
    _, err = proc.communicate(timeout=20)
    assert f"cannot open log target {fifo} (a FIFO with no reader); logging to stderr" in err
    lock_config = write_config(tmp_path, f'[settings]\nstate_dir = "{state}"\n[run]\n[[run.steps]]\n'
                               'name = "a"\nexec = ["true"]\n', "lock.toml")
    locked = run_hookrun(lock_config, "run", "run", env={"HOOKRUN_STATE_DIR": str(state)}, timeout=20)
    assert locked.code == 0 and locked.seconds < 3.0, locked.out
    assert "is a FIFO, not a regular file); running without the run lock" in locked.out
    for config_path in (fifo, Path("/dev/zero")):
        bad = run_hookrun(config_path, "validate", timeout=20)
        assert bad.code == 2 and bad.seconds < 3.0, bad.out
        assert "not a regular file" in bad.out


def test_sigterm_in_the_lock_wait_still_writes_the_summary(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[run]\ntimeout = "20s"\n[[run.steps]]\nname = "hold"\n'
                          'exec = ["sleep", "10"]\n')
    env = {"HOOKRUN_STATE_DIR": str(tmp_path / "state"), "HOOKRUN_LOG_TARGET": "stderr"}
    first = start(["--config", str(config), "run", "run"], env)
    second = None
    try:
        assert first.stderr is not None
        read_until(first.stderr, "hold: start:", 10)
        second = start(["--config", str(config), "run", "run"], env)
        assert second.stderr is not None
        read_until(second.stderr, "waiting for it to finish", 10)
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=10)
        assert second.returncode == 143, err
        summary = err.splitlines()[-1]
        assert summary.startswith("hookrun run: summary: 0 ok, 0 failed, 0 skipped, 1 cancelled"), err
        assert "interrupted by signal 15" in summary
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_prestop_cancels_a_poststart_waiting_for_its_lock(tmp_path: Path) -> None:
    config = write_config(tmp_path, '''
[poststart]
timeout = "20s"
[[poststart.steps]]
name = "slow"
exec = ["sleep", "10"]
[prestop]
timeout = "5s"
[[prestop.steps]]
name = "bye"
exec = ["true"]
''')
    env = {"HOOKRUN_STATE_DIR": str(tmp_path / "state"), "HOOKRUN_LOG_TARGET": "stderr"}
    first = start(["--config", str(config), "poststart"], env)
    second = None
    try:
        assert first.stderr is not None
        read_until(first.stderr, "slow: start:", 10)
        second = start(["--config", str(config), "poststart"], env)  # a second delivery
        assert second.stderr is not None
        read_until(second.stderr, "waiting for it to finish", 10)
        prestop = run_hookrun(config, "prestop", env=env, timeout=20)
        assert prestop.code == 0, prestop.out
        assert first.wait(timeout=10) == 143
        _, err = second.communicate(timeout=10)
        assert second.returncode == 143, err
        assert "prestop has started in this container: a poststart must not run alongside it" in err
        assert "slow: start:" not in err  # it never ran its steps
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_a_full_state_volume_keeps_the_lock(tmp_path: Path) -> None:
    """Five deliveries at once on a state volume with no byte free: they still run one after
    the other (the lock needs no space; only its holder record does)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private tmpfs")
    state, out = tmp_path / "state", tmp_path / "out"
    state.mkdir()
    config = write_config(tmp_path, f'''
[settings]
state_dir = "{state}"
[run]
timeout = "20s"
[[run.steps]]
name = "critical"
shell = "echo start >> {out}; sleep 0.2; echo end >> {out}"
''')
    argv = " ".join(f"'{a}'" for a in hookrun_argv())
    script = f"""
set -e
mount -t tmpfs -o size=64k,mode=0700 tmpfs '{state}'
{argv} --config '{config}' --log-target stderr run run 2>/dev/null   # creates the lock file
dd if=/dev/zero of='{state}/fill' bs=4k 2>/dev/null || true           # no byte left
pids=""
for i in 1 2 3 4 5; do {argv} --config '{config}' --log-target stderr run run 2>>'{tmp_path}/err' & pids="$pids $!"; done
for p in $pids; do wait $p; done
"""
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr + (tmp_path / "err").read_text()
    lines = out.read_text().split()
    assert lines == ["start", "end"] * 6, lines  # never two at once


@pytest.mark.skipif(os.geteuid() != 0, reason="a thousand processes: root keeps the nproc limit out of it")
def test_wait_exit_over_more_processes_than_open_files(tmp_path: Path, procs: Procs, unique: str) -> None:
    binary = procs.named(unique, shutil.which("sleep") or "/bin/sleep")
    count = 1100
    children = [subprocess.Popen([binary, "30"], start_new_session=True) for _ in range(count)]
    try:
        wait_until(lambda: all(state(c.pid) == "S" for c in children), 20, "every sleep is running")
        config = write_config(tmp_path, f'[run]\ntimeout = "20s"\n[[run.steps]]\nname = "gone"\n'
                              f'wait_exit = {{ process = "{unique}" }}\n')

        def low_limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        hook = start(["--config", str(config), "--log-target", "stderr", "run", "run"], preexec_fn=low_limit)
        assert hook.stderr is not None
        read_until(hook.stderr, "gone: start:", 10)
        wait_until(lambda: holds_pidfd(hook.pid), 10, "hookrun has seen them all and waits")
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=10)
        _, err = hook.communicate(timeout=20)
        assert hook.returncode == 0, err
        assert f"gone: ok: {count} processes exited" in err
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert wait_gone([c.pid for c in children], 5) == []


def test_ready_regex_is_shared() -> None:
    assert READY.search("ready pid=12")
