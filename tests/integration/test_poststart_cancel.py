"""A prestop that starts while the poststart of the same container still runs cancels it."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from subprocess import PIPE

from conftest import Procs, write_config
from support import TREE
from support.cli import HOOKRUN, hook_env, run
from support.procs import READY, read_until, wait_gone


def test_prestop_cancels_a_running_poststart_and_does_not_wait(tmp_path: Path, procs: Procs) -> None:
    write_config(tmp_path, f"""
[settings]
grace_period = "20s"
[poststart]
[[poststart.steps]]
name = "warm-up"
exec = ["{sys.executable}", "{TREE}", "{tmp_path / 'count'}", "{tmp_path / 'release'}"]
[[poststart.steps]]
name = "after"
exec = ["true"]
[prestop]
[[prestop.steps]]
name = "bye"
exec = ["true"]
""")
    env = hook_env(tmp_path)
    poststart = procs.start([*HOOKRUN, "poststart"], env=env, stderr=PIPE)
    assert poststart.stderr is not None
    lines = read_until(poststart.stderr, r"ready pid=", 20, count=2)
    pids = [int(m.group(1)) for line in lines if (m := READY.search(line))]
    procs.pids += pids

    began = time.monotonic()
    prestop = run(["prestop"], env)
    took = time.monotonic() - began
    assert prestop.code == 0, prestop.err
    assert f"cancelled the poststart still running (pid {poststart.pid})" in prestop.err
    assert "bye: ok:" in prestop.err
    assert 0.05 < took < 5.0  # a whole hookrun run, but no wait for the poststart

    assert poststart.wait(timeout=10) == 143
    rest = poststart.stderr.read()
    assert "warm-up: cancelled: hookrun was interrupted" in rest
    assert "after: skipped: hookrun was interrupted" in rest
    assert "1 cancelled" in rest and "exit 143" in rest
    assert wait_gone(pids, 3.0) == []


def test_poststart_has_a_default_timeout(tmp_path: Path) -> None:
    write_config(tmp_path, """
[poststart]
[[poststart.steps]]
name = "wait"
exec = ["sleep", "1000"]
""")
    plan = run(["plan", "poststart", "--format", "json"], hook_env(tmp_path))
    assert '"budget_s": 60.0' in plan.out and '"budget_from": "default timeout 1m"' in plan.out
