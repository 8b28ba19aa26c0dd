"""`hookrun emulate` on real processes, timed against the kubelet's rules (KUBELET.md):
the grace timer starts before preStop; the stop signal goes out when preStop returns or the
grace period ends; SIGKILL follows max(grace - whole seconds of preStop, 2) seconds later.
And a real nginx with config/nginx.toml: graceful, no SIGTERM or SIGKILL needed."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Procs, nginx_argv, write_config
from support import ROOT
from support import TARGET as TARGET_SCRIPT
from support.procs import wait_until
from support.servers import ScriptedServer
from test_nginx import SIZE, Download

from hookrun.system.procfs import processes as scan

TARGET = [sys.executable, str(TARGET_SCRIPT)]
NOTHING = '[prestop]\n[[prestop.steps]]\nname = "nothing"\nexec = ["true"]\n'


@dataclass
class Emulated:
    code: int
    out: str  # stdout: the app's output and the timeline
    err: str  # stderr: the live log
    seconds: float
    timeline: dict[str, Any]

    def hook(self, name: str) -> dict[str, Any]:
        return next(h for h in self.timeline["hooks"] if h["hook"] == name)

    def steps(self, hook: str) -> dict[str, dict[str, Any]]:
        return {s["name"]: s for s in self.hook(hook)["steps"]}


def emulate(tmp: Path, config: str, *options: str, cmd: list[str], timeout: float = 60.0,
            env: dict[str, str] | None = None) -> Emulated:
    path = write_config(tmp, config)
    timeline = tmp / "timeline.json"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "hookrun", "--config", str(path), "emulate", "--timeline", str(timeline),
         *options, "--", *cmd],
        cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout,
        check=False)
    seconds = time.monotonic() - started
    data = json.loads(timeline.read_text()) if timeline.exists() else {}
    return Emulated(done.returncode, done.stdout, done.stderr, seconds, data)


def settings(grace: str, reserve: str = "1s") -> str:
    return f'[settings]\ngrace_period = "{grace}"\nshutdown_reserve = "{reserve}"\n'


class Background:
    """An emulator running while the test acts on it: reads its live log, signals it."""

    def __init__(self, tmp: Path, config: Path, *options: str, cmd: list[str],
                 env: dict[str, str] | None = None) -> None:
        self.timeline = tmp / "timeline.json"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hookrun", "--config", str(config), "emulate", "--timeline",
             str(self.timeline), *options, "--", *cmd],
            cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        self.out = self.err = ""

    def wait_for(self, text: str) -> None:
        """Read the live log (stderr) until a line holds `text` (bounded)."""
        assert self.proc.stderr is not None
        for _ in range(500):
            line = self.proc.stderr.readline()
            if text in line or not line:
                break
        assert text in line, f"no {text!r} in the live log"

    def app_ready(self) -> None:
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().startswith("ready pid=")  # the app's handlers are set

    def interrupt(self) -> float:
        """SIGINT, as Ctrl-C would send; the wall-clock time just before it."""
        sent = time.time()
        os.kill(self.proc.pid, signal.SIGINT)
        return sent

    def finish(self) -> dict[str, Any]:
        self.out, self.err = self.proc.communicate(timeout=30)
        return dict(json.loads(self.timeline.read_text()))

    def close(self) -> None:
        if self.proc.poll() is None:  # what it started dies with it (PR_SET_PDEATHSIG)
            self.proc.kill()
        self.proc.communicate(timeout=20)


@pytest.fixture
def background() -> Iterator[Callable[..., Background]]:
    started: list[Background] = []

    def start(*args: Any, **kwargs: Any) -> Background:
        started.append(Background(*args, **kwargs))
        return started[-1]

    yield start
    for emulator in started:
        emulator.close()


def rest_after_term(grace: int, hook_seconds: float) -> int:
    """The kubelet's arithmetic, written out again: whole seconds subtracted, at least 2 left."""
    return max(grace - math.floor(hook_seconds), 2)


def check_kubelet_arithmetic(t: dict[str, Any]) -> None:
    expected = rest_after_term(t["grace_s"], t["term_at"] - t["stop_at"])
    assert t["kill_deadline"] - t["term_at"] == pytest.approx(expected, abs=1e-6), t


def test_graceful_app_gets_sigterm_when_prestop_returns(tmp_path: Path) -> None:
    config = settings("5s") + f"""
[poststart]
[[poststart.steps]]
name = "log-start"
write = {{ path = "{tmp_path}/life.log", text = "started\\n" }}

[prestop]
[[prestop.steps]]
name = "endpoint-race"
sleep = "1s"
[[prestop.steps]]
name = "log-stop"
shell = "echo \\"stopping, grace $HOOKRUN_GRACE_PERIOD\\" >> {tmp_path}/life.log"
"""
    run = emulate(tmp_path, config, "--stop-after", "1s",
                  cmd=[*TARGET, "--exit-on", "TERM", "--exit-delay", "0.5"])
    t = run.timeline
    assert run.code == 0, run.err
    assert (tmp_path / "life.log").read_text() == "started\nstopping, grace 5s\n"
    # the stop came at --stop-after; prestop started at once and ran its 1 s sleep
    assert 1.0 <= t["stop_at"] <= 2.0
    prestop = run.hook("prestop")
    assert 0 <= prestop["start"] - t["stop_at"] <= 1.0
    race = run.steps("prestop")["endpoint-race"]
    assert 1.0 <= race["end"] - race["start"] <= 1.6
    assert [s["status"] for s in prestop["steps"]] == ["ok", "ok"]
    assert prestop["exit_code"] == 0 and not prestop["killed_with_app"]
    # SIGTERM when the hook returned, not before the sleep was over
    assert t["term_reason"] == "prestop returned"
    assert 1.0 <= t["term_at"] - t["stop_at"] <= 3.5
    assert 0 <= t["term_at"] - prestop["end"] <= 0.5
    check_kubelet_arithmetic(t)
    # the app took its 0.5 s after SIGTERM and was never killed
    assert 0.5 <= t["app_exit_at"] - t["term_at"] <= 2.0
    assert t["kill_at"] is None
    assert t["verdict"].startswith("graceful: app exited ") and "s of grace unused" in t["verdict"]
    assert t["verdict"] in run.out
    assert run.hook("poststart")["exit_code"] == 0
    assert 1.0 + 1.0 + 0.5 <= run.seconds <= 15


def test_app_ignoring_sigterm_is_sigkilled_after_the_rest_of_the_grace_period(tmp_path: Path) -> None:
    config = settings("3s") + '[prestop]\n[[prestop.steps]]\nname = "nap"\nsleep = "1s"\n'
    run = emulate(tmp_path, config, "--stop-after", "500ms", cmd=[*TARGET, "--ignore", "TERM"])
    t = run.timeline
    assert run.code == 128 + 9, run.err
    assert t["term_reason"] == "prestop returned"
    check_kubelet_arithmetic(t)
    rest = t["kill_deadline"] - t["term_at"]
    assert rest in (2, 3)  # 3 s grace minus the whole seconds the hook took, at least 2
    # SIGKILL exactly when due: not early, not late
    assert rest <= t["kill_at"] - t["term_at"] <= rest + 0.5
    assert 0 <= t["app_exit_at"] - t["kill_at"] <= 0.5
    assert t["verdict"].startswith("SIGKILLED: app still running")
    assert 0.5 + 1.0 + 2.0 <= run.seconds <= 15
    chart_row = next(line for line in run.out.splitlines() if line.startswith("grace  "))
    assert "T" in chart_row and "K" in chart_row


def test_prestop_that_outlasts_the_grace_period_is_abandoned(tmp_path: Path) -> None:
    config = settings("2s") + """
[prestop]
timeout = "20s"
[[prestop.steps]]
name = "too-long"
sleep = "10s"
"""
    run = emulate(tmp_path, config, "--stop-after", "300ms", cmd=[*TARGET, "--ignore", "TERM"])
    t = run.timeline
    assert run.code == 137, run.err
    # the grace period ran out first: SIGTERM then, and the 2 s minimum before SIGKILL
    assert "grace period ended" in t["term_reason"]
    assert 2.0 <= t["term_at"] - t["stop_at"] <= 2.5
    assert t["kill_deadline"] - t["term_at"] == pytest.approx(2.0)
    assert 2.0 <= t["kill_at"] - t["term_at"] <= 2.5
    prestop = run.hook("prestop")
    assert prestop["abandoned_at"] == pytest.approx(t["term_at"], abs=0.01)
    assert prestop["killed_with_app"] and prestop["exit_code"] is None
    assert run.steps("prestop")["too-long"]["status"] == "killed"
    assert "used the whole 2 s grace period" in t["verdict"]
    assert 0.3 + 4.0 <= run.seconds <= 12


def test_failed_poststart_runs_prestop_and_kills_the_app(tmp_path: Path) -> None:
    config = settings("4s") + f"""
[poststart]
[[poststart.steps]]
name = "check"
shell = "sleep 0.3; exit 3"

[prestop]
[[prestop.steps]]
name = "mark"
write = {{ path = "{tmp_path}/prestop.ran", text = "yes" }}
"""
    run = emulate(tmp_path, config, cmd=[*TARGET, "--exit-on", "TERM"])
    t = run.timeline
    poststart = run.hook("poststart")
    assert poststart["exit_code"] == 1 and run.steps("poststart")["check"]["status"] == "failed"
    # no --stop-after and no signal: the failed poststart alone stopped the container
    assert t["stop_reason"].startswith("poststart failed")
    assert 0 <= t["stop_at"] - poststart["end"] <= 0.5
    assert (tmp_path / "prestop.ran").read_text() == "yes"
    assert run.hook("prestop")["exit_code"] == 0
    assert t["term_reason"] == "prestop returned" and t["app_exit_at"] >= t["term_at"]
    # the app exited 0 on SIGTERM, but the container did not survive: never exit 0
    assert t["app_status"] == 0 and run.code == 1
    assert t["verdict"].startswith("poststart FAILED (exit 1)")
    assert 0.3 <= run.seconds <= 10


def test_ctrl_c_during_a_long_poststart(tmp_path: Path, procs: Procs, unique: str,
                                       background: Callable[..., Background]) -> None:
    slow = procs.named(unique, sys.executable)  # the poststart's command, findable by name
    config = settings("5s") + f"""
[poststart]
timeout = "60s"
[[poststart.steps]]
name = "warm-up"
exec = ["{slow}", "{TARGET_SCRIPT}", "--exit-after", "60"]

[prestop]
[[prestop.steps]]
name = "mark"
write = {{ path = "{tmp_path}/prestop.ran", text = "yes" }}
"""
    emulator = background(tmp_path, write_config(tmp_path, config), cmd=[*TARGET, "--exit-on", "TERM"])
    emulator.wait_for("warm-up: start")
    wait_until(lambda: running(unique), 5, "the step's command runs")
    interrupted = emulator.interrupt()
    t = emulator.finish()
    ended = time.time()
    assert emulator.proc.returncode == 0, emulator.err
    assert t["stop_reason"] == "Ctrl-C"
    assert 0 <= t["started_wall"] + t["stop_at"] - interrupted <= 1.0
    # prestop ran while poststart was still busy; the app stopped gracefully
    assert (tmp_path / "prestop.ran").read_text() == "yes"
    assert t["term_reason"] == "prestop returned" and t["kill_at"] is None
    # the poststart did not survive the container, nor did the command it ran
    poststart = next(h for h in t["hooks"] if h["hook"] == "poststart")
    assert poststart["end"] <= t["app_exit_at"] + 1.0
    assert poststart["steps"][0]["status"] in ("killed", "cancelled")
    assert not running(unique)
    assert ended - interrupted <= 8


def test_a_second_ctrl_c_kills_at_once(tmp_path: Path, background: Callable[..., Background]) -> None:
    config = settings("60s") + '[prestop]\n[[prestop.steps]]\nname = "nap"\nsleep = "1s"\n'
    emulator = background(tmp_path, write_config(tmp_path, config), cmd=[*TARGET, "--ignore", "TERM"])
    emulator.app_ready()
    emulator.interrupt()
    emulator.wait_for("SIGTERM to the app")
    second = time.monotonic()
    emulator.interrupt()
    t = emulator.finish()
    assert emulator.proc.returncode == 137
    assert t["forced"] and t["kill_at"] is not None
    assert 0 <= t["kill_at"] - t["term_at"] <= 1.0  # not the 59 s the grace period had left
    assert time.monotonic() - second <= 5
    assert t["verdict"].startswith("SIGKILLED: forced")


def test_app_that_exits_by_itself_gets_no_prestop(tmp_path: Path) -> None:
    config = f"""
[prestop]
[[prestop.steps]]
name = "mark"
write = {{ path = "{tmp_path}/prestop.ran", text = "yes" }}
"""
    run = emulate(tmp_path, config, cmd=[*TARGET, "--exit-after", "0.5", "--exit-code", "3"])
    assert run.code == 3
    t = run.timeline
    assert t["stop_at"] is None and t["term_at"] is None and t["hooks"] == []
    assert not (tmp_path / "prestop.ran").exists()
    assert 0.5 <= t["app_exit_at"] <= 3.0
    assert t["verdict"].startswith("exited: the app ended by itself")


def test_stop_signal_option(tmp_path: Path) -> None:
    config = settings("5s") + NOTHING
    run = emulate(tmp_path, config, "--stop-after", "200ms", "--stop-signal", "QUIT",
                  cmd=[*TARGET, "--exit-on", "QUIT"])
    assert run.code == 0, run.err
    assert "got SIGQUIT" in run.out
    assert run.timeline["stop_signal"] == "SIGQUIT"
    assert "after SIGQUIT" in run.timeline["verdict"]


@pytest.mark.parametrize("pid_namespace", [False, True], ids=["host-pids", "pid-namespace"])
def test_nginx_shuts_down_gracefully(tmp_path: Path, unique: str, pid_namespace: bool,
                                     http_server: Callable[..., ScriptedServer],
                                     background: Callable[..., Background]) -> None:
    if pid_namespace and os.geteuid() != 0:
        pytest.skip("--pid-namespace needs root")
    prefix = tmp_path / "nginx"
    argv, port = nginx_argv(prefix, unique)
    (prefix / "html/slow").mkdir()
    (prefix / "html/slow/big.bin").write_bytes(os.urandom(SIZE))
    env = {"NGINX_PORT": str(port), "NGINX_PIDFILE": str(prefix / "nginx.pid"),
           "NGINX_PROCESS": unique, "ENDPOINT_GRACE": "500ms", "KUBERNETES_SERVICE_HOST": ""}
    emulator = background(tmp_path, ROOT / "config/nginx.toml", "--grace-period", "10s",
                          *(["--pid-namespace"] if pid_namespace else []), cmd=argv, env=env)
    emulator.wait_for("wait-listening: ok")  # poststart says when nginx listens
    download = Download(port)
    client = threading.Thread(target=download.run, daemon=True)
    client.start()
    assert download.started.wait(5)
    deleted = emulator.interrupt()  # the pod is deleted while the download runs
    t = emulator.finish()
    client.join(10)
    steps = {s["name"]: s for h in t["hooks"] if h["hook"] == "prestop" for s in h["steps"]}
    assert emulator.proc.returncode == 0, emulator.err
    assert t["pid_namespace"] is pid_namespace
    assert 0 <= t["started_wall"] + t["stop_at"] - deleted <= 1.0
    # the hook did the work: no API here, so the traffic-based wait; QUIT sent
    assert steps["endpoint-race"]["status"] == "failed"
    assert steps["quiet-instead"]["status"] == "ok"
    assert steps["quit"]["status"] == "ok"
    # nginx finished the download and exited during prestop: no SIGTERM, no SIGKILL needed
    assert download.received == SIZE
    assert t["term_at"] is None and t["kill_at"] is None
    assert t["app_status"] == 0
    assert t["app_exit_at"] - t["stop_at"] <= t["grace_s"]
    # nginx as PID 1: the summary is written before QUIT, wait-exit accounted as skipped there,
    # and the hook ends with the container; otherwise wait-exit sees every nginx process go
    assert steps["wait-exit"]["status"] == ("skipped" if pid_namespace else "ok")
    assert t["verdict"].startswith("graceful: app exited during prestop")
    assert t["verdict"] in emulator.out
    assert not running(unique)


@pytest.mark.skipif(os.geteuid() != 0, reason="--pid-namespace needs root")
def test_pid_namespace_app_is_pid_1_and_hooks_see_it(tmp_path: Path) -> None:
    config = settings("3s") + f"""
[prestop]
[[prestop.steps]]
name = "look"
shell = "tr '\\\\0' ' ' < /proc/1/cmdline > {tmp_path}/pid1; ls /proc | grep -c '^[0-9]' > {tmp_path}/count"
"""
    mounts = Path("/proc/self/mountinfo").read_text().count(" /proc ")
    run = emulate(tmp_path, config, "--pid-namespace", "--stop-after", "500ms",
                  cmd=[*TARGET, "--exit-on", "TERM"])
    assert run.code == 0, run.err
    assert "ready pid=1" in run.out  # the app is PID 1
    assert "target.py" in (tmp_path / "pid1").read_text()  # and the hook sees it as PID 1
    assert int((tmp_path / "count").read_text()) <= 6  # app, hookrun, sh, ls, grep: not the host's
    assert run.timeline["pid_namespace"] is True
    assert Path("/proc/self/mountinfo").read_text().count(" /proc ") == mounts


@pytest.mark.skipif(os.geteuid() != 0, reason="--pid-namespace needs root")
def test_pid_1_without_a_handler_ignores_sigterm(tmp_path: Path) -> None:
    """As in a container: the kernel drops signals PID 1 has no handler for; only SIGKILL ends it."""
    config = settings("2s") + NOTHING
    run = emulate(tmp_path, config, "--pid-namespace", "--stop-after", "200ms", cmd=["sleep", "60"])
    t = run.timeline
    assert run.code == 137, run.err
    assert 2.0 <= t["kill_at"] - t["term_at"] <= 2.5
    assert t["verdict"].startswith("SIGKILLED")


def test_pid_namespace_needs_root(tmp_path: Path) -> None:
    path = write_config(tmp_path, NOTHING)
    code = (
        "import encodings.ascii, os, sys\n"  # imports from /root are refused once the uid is dropped
        "from hookrun import cli\nimport hookrun.cli.emulate, hookrun.emulator.svg\n"
        "os.seteuid(65534)\n"
        f"sys.exit(cli.main(['--config', {str(path)!r}, 'emulate', '--pid-namespace', '--',"
        f" 'touch', {str(tmp_path / 'ran')!r}]))\n"
    )
    if os.geteuid() != 0:
        code = code.replace("os.seteuid(65534)\n", "")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 2, done.stderr
    assert "--pid-namespace needs root" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(("options", "message"), [
    ([], "emulate needs a command"),
    (["--timeline", "x.png", "--", "true"], "name a .svg, .html or .json file"),
    (["--timeline", "/no/such/dir/t.svg", "--", "true"], "does not exist"),
    (["--stop-after", "soon", "--", "true"], "expected a duration"),
    (["--stop-signal", "SIGNOPE", "--", "true"], "unknown signal"),
])
def test_usage_errors(tmp_path: Path, options: list[str], message: str) -> None:
    path = write_config(tmp_path, NOTHING)
    done = subprocess.run([sys.executable, "-m", "hookrun", "--config", str(path), "emulate", *options],
                          cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_config_error_runs_nothing(tmp_path: Path) -> None:
    path = write_config(tmp_path, NOTHING + "timout = 1\n")
    done = subprocess.run([sys.executable, "-m", "hookrun", "--config", str(path), "emulate", "--",
                           "touch", str(tmp_path / "ran")], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 2
    assert 'key "timout": unknown key (did you mean "timeout"?)' in done.stderr
    assert not (tmp_path / "ran").exists()


def test_command_not_found(tmp_path: Path) -> None:
    path = write_config(tmp_path, NOTHING)
    done = subprocess.run([sys.executable, "-m", "hookrun", "--config", str(path), "emulate", "--",
                           str(tmp_path / "nope")], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 127
    assert "command not found" in done.stderr and "Traceback" not in done.stderr


def test_svg_and_html_timelines_are_written(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    config = settings("3s") + NOTHING
    path = write_config(tmp_path, config)
    for name in ("t.svg", "t.html"):
        done = subprocess.run(
            [sys.executable, "-m", "hookrun", "--config", str(path), "emulate", "--stop-after", "100ms",
             "--timeline", str(tmp_path / name), "--", *TARGET, "--exit-on", "TERM"],
            cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
    svg = ET.fromstring((tmp_path / "t.svg").read_text())
    labels = [el.text for el in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert {"app", "prestop", "nothing", "grace"} <= set(labels)
    html = (tmp_path / "t.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "graceful: app exited" in html


def running(name: str) -> bool:
    return any(p.name == name and not p.zombie for p in scan())


def test_a_stale_grace_period_shows_on_the_timeline(tmp_path: Path) -> None:
    """The hooks are told 30 s, the kubelet's grace period is 3 s: prestop plans a 2 s drain and
    never gets to quit; the kubelet abandons it and sends SIGTERM at 3 s."""
    config = settings("30s") + """
[prestop]
[[prestop.steps]]
name = "drain"
sleep = "10s"
[[prestop.steps]]
name = "quit"
exec = ["true"]
"""
    run = emulate(tmp_path, config, "--pod-grace-period", "3s", "--stop-after", "200ms",
                  cmd=[*TARGET, "--exit-on", "TERM"])
    t = run.timeline
    assert run.code == 0, run.err
    assert t["grace_s"] == 3 and t["told_grace_s"] == 30
    assert 2.9 <= t["term_at"] - t["stop_at"] <= 3.5  # the kubelet's 3 s, not the hooks' 30 s
    prestop = next(h for h in t["hooks"] if h["hook"] == "prestop")
    assert prestop["abandoned_at"] is not None
    assert t["verdict"].startswith("stopped by SIGTERM when the grace period ended, prestop abandoned")
    assert t["verdict"].endswith("the hooks were told a 30 s grace period, the kubelet's is 3 s "
                                 "(HOOKRUN_GRACE_PERIOD must equal terminationGracePeriodSeconds)")
    assert "the kubelet's grace period is 3s; the hooks are told 30s" in run.err
