"""At-least-once delivery: duplicate deliveries of a hook wait for the lock, then skip what is done."""

from __future__ import annotations

import time
from pathlib import Path
from subprocess import PIPE

from conftest import Procs, write_config
from support.cli import HOOKRUN, hook_env, run


def test_twenty_simultaneous_deliveries_run_a_once_step_exactly_once(
        tmp_path: Path, procs: Procs) -> None:
    out = tmp_path / "out"
    write_config(tmp_path, f"""
[setup]
timeout = "60s"
[[setup.steps]]
name = "append"
once = true
shell = "sleep 1; echo line >> {out}"
""")
    env = hook_env(tmp_path)
    copies = [procs.start([*HOOKRUN, "run", "setup"], env=env, stderr=PIPE) for _ in range(20)]
    results = [(proc.wait(timeout=90), proc.communicate()[1]) for proc in copies]
    assert [code for code, _ in results] == [0] * 20, [err for _, err in results]
    assert out.read_text() == "line\n"
    ran = [err for _, err in results if "append: ok:" in err]
    skipped = [err for _, err in results if "append: skipped: already done once" in err]
    assert len(ran) == 1 and len(skipped) == 19
    assert any("another setup (pid " in err and "is running: waiting" in err for err in skipped)


def test_a_delivery_waits_only_inside_its_own_budget(tmp_path: Path, procs: Procs) -> None:
    hook = """
[setup]
timeout = "{budget}"
[[setup.steps]]
name = "hold"
exec = ["sleep", "4"]
"""
    write_config(tmp_path, hook.format(budget="10s"))
    short = tmp_path / "short.toml"
    short.write_text(hook.format(budget="1500ms"))
    env = hook_env(tmp_path)
    first = procs.start([*HOOKRUN, "run", "setup"], env=env, stderr=PIPE)
    assert first.stderr is not None
    assert "hold: start:" in first.stderr.readline()
    began = time.monotonic()
    second = run(["--config", str(short), "run", "setup"], env)
    took = time.monotonic() - began
    assert second.code == 124, second.err
    assert "waiting for it to finish" in second.err
    assert "the budget ran out waiting for another setup to finish" in second.err
    assert "hold: skipped: no budget left" in second.err
    assert 1.0 <= took < 3.5  # its own 1.5 s budget, counted from its own start
    assert first.wait(timeout=10) == 0
