"""hookrun inside a PID namespace whose PID 1 is the app, as in a container."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from runs import HOOKRUN, Reaper, hook_env, read_until, reaping, write_config

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None,
    reason="needs root, unshare(1) and nsenter(1) for a PID namespace")

APP = """
import os, sys, time
print(f"ready pid={os.getpid()}", flush=True)
for line in sys.stdin:  # runs until the test closes stdin (bounded by the test's cleanup)
    pass
"""


@pytest.fixture
def reaper() -> Iterator[Reaper]:
    with reaping() as r:
        yield r


def start_app(reaper: Reaper, env: dict[str, str]) -> tuple[int, object]:
    """The app as PID 1 of a new PID namespace; its pid as seen from here."""
    app = reaper.start(["unshare", "--pid", "--fork", "--kill-child", "--mount-proc",
                        sys.executable, "-c", APP], env, stdin=-1)
    assert app.stdout is not None
    assert read_until(app.stdout, r"ready pid=1$", 10) == ["ready pid=1\n"]
    [child] = psutil.Process(app.pid).children()
    return child.pid, app


def test_auto_log_target_reaches_pid1_stdout(tmp_path: Path, reaper: Reaper) -> None:
    write_config(tmp_path, """
[check]
[[check.steps]]
name = "hello"
exec = ["echo", "hi from the hook"]
""")
    env = hook_env(tmp_path, HOOKRUN_LOG_TARGET="auto")
    pid1, app = start_app(reaper, env)
    hook = reaper.start(["nsenter", f"--target={pid1}", "--pid", "--mount", "--", *HOOKRUN,
                         "run", "check"], env)
    assert hook.wait(timeout=30) == 0
    own_out, own_err = hook.communicate()
    lines = read_until(app.stdout, r"summary", 10)  # type: ignore[attr-defined]
    assert lines[0].startswith("hookrun check hello: start: run echo hi from the hook")
    assert "hookrun check hello: | hi from the hook\n" in lines
    assert lines[-1].startswith("hookrun check: summary: 1 ok, 0 failed, 0 skipped")
    assert own_out == ""
    assert own_err.splitlines() == [lines[-1].rstrip("\n")]  # only what matters is echoed
