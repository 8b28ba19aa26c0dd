"""SIGKILL of hookrun in the middle of a step: nothing it started survives, no marker is left,
and the next delivery performs the step (once)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from subprocess import PIPE

import psutil
from conftest import Procs, write_config
from support import TREE
from support.cli import HOOKRUN, hook_env, run
from support.procs import READY, read_until, wait_gone


def test_sigkill_mid_step_leaves_nothing_and_the_step_runs_again_once(
        tmp_path: Path, procs: Procs) -> None:
    count, release = tmp_path / "count", tmp_path / "release"
    write_config(tmp_path, f"""
[prestop]
timeout = "60s"
[[prestop.steps]]
name = "seed"
once = true
exec = ["{sys.executable}", "{TREE}", "{count}", "{release}"]
""")
    env = hook_env(tmp_path)
    hookrun = procs.start([*HOOKRUN, "prestop"], env=env, stderr=PIPE)
    assert hookrun.stderr is not None
    lines = read_until(hookrun.stderr, r"ready pid=", 20, count=2)
    step_pids = [int(m.group(1)) for line in lines if (m := READY.search(line))]
    supervisor = [child.pid for child in psutil.Process(hookrun.pid).children()]
    procs.pids += step_pids + supervisor
    assert len(step_pids) == 2 and len(supervisor) == 1
    grandchild = psutil.Process(step_pids[1])
    assert grandchild.ppid() == supervisor[0]  # re-parented to the subreaper, not to init
    assert os.getsid(grandchild.pid) != os.getsid(step_pids[0])  # left the step's session

    killed = time.monotonic()
    hookrun.send_signal(signal.SIGKILL)
    assert hookrun.wait(timeout=10) == -signal.SIGKILL
    assert wait_gone(step_pids + supervisor, 3.0) == []
    assert time.monotonic() - killed < 3.0
    state = sorted(p.name for p in (tmp_path / "state").iterdir())
    assert state == ["prestop.lock"]  # no marker, no temp file
    assert count.read_text() == "run\n"

    release.touch()
    again = run(["prestop"], env)
    assert again.code == 0, again.err
    assert count.read_text() == "run\nrun\n"
    assert len([p for p in (tmp_path / "state").iterdir() if p.name.startswith("once.")]) == 1

    third = run(["prestop"], env)
    assert third.code == 0, third.err
    assert "seed: skipped: already done once in this container" in third.err
    assert count.read_text() == "run\nrun\n"
