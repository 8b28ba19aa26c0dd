"""hookrun inside a PID namespace whose PID 1 is the app, as in a container."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from subprocess import PIPE

import psutil
import pytest
from conftest import Procs, write_config
from runs import HOOKRUN, hook_env, read_until

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
