"""Real processes under real deadlines: kills, budgets, retries, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from support.cli import Result, hookrun_argv
from support.procs import alive

Hookrun = Callable[..., Result]
Config = Callable[[str], Path]


def test_a_command_ignoring_sigterm_is_killed_at_its_step_timeout(config: Config, hookrun: Hookrun) -> None:
    path = config("""
        [prestop]
        [[prestop.steps]]
        name = "stubborn"
        exec = ["sh", "-c", "trap '' TERM; echo started; sleep 30"]
        timeout = "1s"
    """)
    run = hookrun("prestop", "--config", str(path))
    assert run.code == 1, run.log
    assert 1.0 <= run.seconds < 2.5, run.seconds
    assert "hookrun prestop stubborn: | started" in run.log
    assert "hookrun prestop stubborn: timeout: sh still running after" in run.log
    assert "step timeout 1s reached" in run.log


def test_the_hook_returns_within_half_a_second_of_its_budget(config: Config, hookrun: Hookrun,
                                                             tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    path = config(f"""
        [settings]
        grace_period = "4s"
        shutdown_reserve = "2s"
        [prestop]
        [[prestop.steps]]
        name = "hang"
        shell = "trap '' TERM; sleep 60 & echo $! >> {pids}; (sleep 70 & echo $! >> {pids}; wait) & wait"
        [[prestop.steps]]
        name = "never"
        exec = ["true"]
    """)
    start = time.monotonic()
    run = hookrun("prestop", "--config", str(path))
    assert run.code == 124, run.log
    # the budget (2s) counts from hookrun's process start, so the whole run stays close to it
    assert 1.9 <= time.monotonic() - start <= 2.5, run.seconds
    assert "hang: timeout:" in run.log and "the hook's budget ran out" in run.log
    assert "never: skipped: no budget left" in run.log
    assert "summary: 0 ok, 1 failed, 1 skipped" in run.log
    children = [int(line) for line in pids.read_text().split()]
    assert len(children) == 2
    deadline = time.monotonic() + 2
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(alive(pid) for pid in children), "a child or grandchild survived the hook"


def test_background_processes_do_not_outlive_a_command_that_succeeded(config: Config, hookrun: Hookrun,
                                                                      tmp_path: Path) -> None:
    pidfile = tmp_path / "bg.pid"
    path = config(f"""
        [poststart]
        [[poststart.steps]]
        name = "spawn"
        shell = "sleep 60 > /dev/null 2>&1 & echo $! > {pidfile}"
    """)
    run = hookrun("poststart", "--config", str(path))
    assert run.code == 0, run.log
    assert run.seconds < 3
    assert not alive(int(pidfile.read_text()))


def test_retries_happen_the_expected_number_of_times(config: Config, hookrun: Hookrun,
                                                     tmp_path: Path) -> None:
    count = tmp_path / "count"
    path = config(f"""
        [poststart]
        [[poststart.steps]]
        name = "flaky"
        shell = "echo x >> {count}; exit 7"
        retries = 3
        retry_delay = "200ms"
    """)
    run = hookrun("poststart", "--config", str(path))
    assert run.code == 1, run.log
    assert count.read_text().count("x") == 4
    assert 0.6 <= run.seconds < 3.0
    assert run.log.count("retry: attempt") == 3
    assert "failed: sh exited 7 (no retries left, 4 attempts); on_failure = abort" in run.log


def test_a_retry_that_would_end_past_the_step_deadline_is_not_started(config: Config, hookrun: Hookrun,
                                                                       tmp_path: Path) -> None:
    count = tmp_path / "count"
    path = config(f"""
        [poststart]
        [[poststart.steps]]
        name = "flaky"
        shell = "echo x >> {count}; exit 1"
        retries = 10
        retry_delay = "700ms"
        timeout = "1s"
    """)
    run = hookrun("poststart", "--config", str(path))
    assert run.code == 1, run.log
    assert count.read_text().count("x") == 2  # at 0 s and 0.7 s; 1.4 s is past the deadline
    assert 0.6 <= run.seconds < 2.0
    assert "no time for another attempt before the step deadline" in run.log


def test_success_after_retries_with_exponential_backoff(config: Config, hookrun: Hookrun,
                                                        tmp_path: Path) -> None:
    count = tmp_path / "count"
    path = config(f"""
        [poststart]
        [[poststart.steps]]
        name = "warmup"
        shell = "echo x >> {count}; [ $(wc -l < {count}) -ge 3 ]"
        retries = 5
        retry_delay = "200ms"
        backoff = "exponential"
    """)
    run = hookrun("poststart", "--config", str(path))
    assert run.code == 0, run.log
    assert count.read_text().count("x") == 3
    # pauses: 0.1-0.2 s, then 0.2-0.4 s (jitter between half and full)
    assert 0.3 <= run.seconds < 3.0
    assert "warmup: ok: sh exited 0" in run.log


def test_on_failure_abort_continue_ignore_and_always(config: Config, hookrun: Hookrun,
                                                     tmp_path: Path) -> None:
    marker = tmp_path / "always"
    path = config(f"""
        [custom]
        [[custom.steps]]
        name = "ignored"
        exec = ["false"]
        on_failure = "ignore"
        [[custom.steps]]
        name = "fails"
        exec = ["false"]
        [[custom.steps]]
        name = "skipped"
        exec = ["true"]
        [[custom.steps]]
        name = "cleanup"
        write = {{ path = "{marker}", text = "done" }}
        always = true
    """)
    run = hookrun("run", "custom", "--config", str(path))
    assert run.code == 1, run.log
    assert "skipped: the hook was aborted after fails failed" in run.log
    assert marker.read_text() == "done"
    assert "summary: 1 ok, 1 failed, 1 failed but ignored, 1 skipped" in run.log

    only_ignored = config("""
        [prestop]
        [[prestop.steps]]
        name = "ignored"
        exec = ["false"]
        on_failure = "ignore"
        [[prestop.steps]]
        name = "fine"
        exec = ["true"]
    """, "ignored.toml")
    run = hookrun("prestop", "--config", str(only_ignored))
    assert run.code == 0, run.log


def test_commands_get_env_cwd_and_hookrun_variables(config: Config, hookrun: Hookrun,
                                                    tmp_path: Path) -> None:
    path = config("""
        [poststart]
        [[poststart.steps]]
        name = "show"
        exec = { command = ["sh", "-c", "echo $GREETING $HOOKRUN_HOOK $HOOKRUN_STEP $HOOKRUN_DEADLINE $HOOKRUN_TIME; pwd; exit 3"], env = { GREETING = "hi" }, cwd = "/tmp", ok_exit_codes = [3] }
        timeout = "5s"
    """)
    run = hookrun("poststart", "--config", str(path), "--log-format", "json")
    assert run.code == 0, run.log
    events = [json.loads(line) for line in run.log.splitlines()]
    outputs = [e["message"] for e in events if e["event"] == "output"]
    greeting, hook, step, deadline, stamp = outputs[0].split()
    assert (greeting, hook, step) == ("hi", "poststart", "show")
    assert 55.0 < float(deadline) <= 60.0 and stamp.endswith("Z") and "T" in stamp
    assert outputs[1] == "/tmp"
    for event in events:
        assert {"time", "level", "hook", "step", "event", "attempt", "elapsed_ms",
                "budget_left_ms", "message"} <= set(event)
    assert events[-1]["event"] == "summary" and events[-1]["hook"] == "poststart"


def test_launch_errors_are_clear_and_not_retried(config: Config, hookrun: Hookrun) -> None:
    path = config("""
        [poststart]
        [[poststart.steps]]
        name = "missing"
        exec = ["/no/such/tool", "x"]
        retries = 3
        [[poststart.steps]]
        name = "no-shell"
        shell = { script = "echo hi", shell = "/no/sh" }
        always = true
    """)
    run = hookrun("poststart", "--config", str(path))
    assert run.code == 1
    assert "command not found: /no/such/tool (exit 127) (not retried)" in run.log
    assert "shell /no/sh is not in this image; use exec = [...] instead of shell" in run.log
    assert "retry:" not in run.log
    assert "Traceback" not in run.log


def test_sleep_is_cut_to_the_budget(config: Config, hookrun: Hookrun) -> None:
    path = config("""
        [poststart]
        timeout = "1s"
        [[poststart.steps]]
        name = "nap"
        sleep = "30s"
    """)
    run = hookrun("poststart", "--config", str(path))
    assert run.code == 0, run.log
    assert 0.7 <= run.seconds < 2.0
    assert "(cut to the budget)" in run.log


def test_write_replaces_atomically_and_appends(config: Config, hookrun: Hookrun, tmp_path: Path) -> None:
    target = tmp_path / "status"
    target.write_text("old")
    log = tmp_path / "lines"
    path = config(f"""
        [poststart]
        [[poststart.steps]]
        name = "replace"
        write = {{ path = "{target}", text = "new ${{HOOKRUN_HOOK}}", append = false, mode = "0640" }}
        [[poststart.steps]]
        name = "line"
        write = {{ path = "{log}", text = "one\\n" }}
        [[poststart.steps]]
        name = "line2"
        write = {{ path = "{log}", text = "two\\n" }}
        [[poststart.steps]]
        name = "nowhere"
        write = {{ path = "{tmp_path}/missing/dir/file", text = "x", append = false }}
        on_failure = "ignore"
    """)
    run = hookrun("poststart", "--config", str(path))
    assert run.code == 0, run.log
    assert target.read_text() == "new poststart"
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert log.read_text() == "one\ntwo\n"
    assert "cannot write" in run.log and "No such file or directory" in run.log
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_wait_file_sees_a_file_that_appears(config: Config, hookrun: Hookrun, tmp_path: Path) -> None:
    flag = tmp_path / "ready"
    path = config(f"""
        [poststart]
        [[poststart.steps]]
        name = "ready"
        wait_file = {{ path = "{flag}" }}
        timeout = "10s"
    """)
    maker = subprocess.Popen(["sh", "-c", f"sleep 0.8; touch {flag}"])
    try:
        run = hookrun("poststart", "--config", str(path))
    finally:
        maker.wait(5)
    assert run.code == 0, run.log
    assert 0.7 <= run.seconds < 3.0


def test_wait_file_times_out(config: Config, hookrun: Hookrun, tmp_path: Path) -> None:
    path = config(f"""
        [poststart]
        [[poststart.steps]]
        name = "ready"
        wait_file = {{ path = "{tmp_path}/never" }}
        timeout = "500ms"
    """)
    run = hookrun("poststart", "--config", str(path))
    assert run.code == 1, run.log
    assert 0.4 <= run.seconds < 2.0
    assert "does not exist yet; step timeout 500ms reached" in run.log


def test_sigterm_to_hookrun_kills_its_children_and_exits_143(config: Config, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    path = config(f"""
        [poststart]
        [[poststart.steps]]
        name = "long"
        shell = "echo $$$$ > {pidfile}; exec sleep 60"
    """)
    env = {**os.environ, "HOOKRUN_LOG_TARGET": "stderr"}
    proc = subprocess.Popen([*hookrun_argv(), "poststart", "--config", str(path)], env=env,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    child = int(pidfile.read_text())
    assert alive(child)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 143, err
    assert "long: cancelled: hookrun was interrupted" in err
    assert "(interrupted by signal 15)" in err
    assert not alive(child)


def test_plan_executes_nothing(config: Config, hookrun: Hookrun, tmp_path: Path) -> None:
    target = tmp_path / "written"
    path = config(f"""
        [prestop]
        [[prestop.steps]]
        name = "w"
        write = {{ path = "{target}", text = "x" }}
        [[prestop.steps]]
        name = "e"
        exec = ["touch", "{target}.exec"]
    """)
    for args in (["plan", "prestop"], ["prestop", "--dry-run"], ["plan", "prestop", "--format", "json"]):
        run = hookrun(*args, "--config", str(path))
        assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert [s["name"] for s in doc["steps"]] == ["w", "e"]
    assert not target.exists() and not Path(f"{target}.exec").exists()


def test_usage_and_config_errors_exit_2_without_traceback(config: Config, hookrun: Hookrun,
                                                          tmp_path: Path) -> None:
    good = config("""
        [prestop]
        [[prestop.steps]]
        name = "a"
        exec = ["true"]
    """)
    cases = [
        ["prestop", "--config", str(tmp_path / "missing.toml")],
        ["run", "nohook", "--config", str(good)],
        ["prestop", "--config", str(good), "--grace-period", "soon"],
        ["prestop", "--config", str(good), "--grace-period", "3s"],
        ["validate", "--config", str(tmp_path / "empty-dir")],  # a directory without hookrun.toml
        ["frobnicate"],
        [],
    ]
    (tmp_path / "empty-dir").mkdir()
    for args in cases:
        run = hookrun(*args)
        assert run.code == 2, (args, run.err)
        assert "Traceback" not in run.err and run.err.strip(), args
    run = hookrun("prestop", "--config", str(good), env={"HOOKRUN_LOG_FORMAT": "xml"})
    assert run.code == 2 and "HOOKRUN_LOG_FORMAT must be text or json" in run.err


def test_log_target_file_and_quiet(config: Config, hookrun: Hookrun, tmp_path: Path) -> None:
    path = config("""
        [prestop]
        [[prestop.steps]]
        name = "hello"
        exec = ["echo", "hello"]
    """)
    log = tmp_path / "hook.log"
    run = hookrun("prestop", "--config", str(path), "--log-target", str(log))
    assert run.code == 0
    text = log.read_text()
    assert "hookrun prestop hello: | hello" in text
    assert text.splitlines()[-1].startswith("hookrun prestop: summary: 1 ok, 0 failed, 0 skipped in ")
    run = hookrun("prestop", "--config", str(path), "-q", env={"HOOKRUN_GRACE_PERIOD": "30s"})
    assert run.err.splitlines() == [line for line in run.err.splitlines() if "summary" in line]
    assert len(run.err.splitlines()) == 1


def test_python_dash_m_and_version(hookrun: Hookrun) -> None:
    run = hookrun("version")
    assert run.code == 0 and run.out.startswith("hookrun ")
    assert sys.executable
