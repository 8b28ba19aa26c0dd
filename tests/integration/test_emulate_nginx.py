"""`hookrun emulate` on a real nginx with config/nginx.toml: a download in flight when the pod
is deleted finishes, nginx quits during preStop, and the kubelet never needs SIGTERM or SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT
from helpers.scripted_http import ScriptedServer
from test_nginx import SIZE, Download, nginx_command

from hookrun.targets import scan


@pytest.mark.parametrize("pid_namespace", [False, True], ids=["host-pids", "pid-namespace"])
def test_nginx_shuts_down_gracefully(tmp_path: Path, unique: str, pid_namespace: bool,
                                     http_server: Callable[..., ScriptedServer]) -> None:
    if pid_namespace and os.geteuid() != 0:
        pytest.skip("--pid-namespace needs root")
    argv, prefix, port = nginx_command(tmp_path, unique)
    registry = http_server(("status", 204))
    env = {**os.environ, "NGINX_PORT": str(port), "NGINX_PIDFILE": str(prefix / "nginx.pid"),
           "NGINX_PROCESS": unique, "DEREGISTER_URL": f"{registry.url}/deregister",
           "HOSTNAME": "web-0", "ENDPOINT_GRACE": "500ms", "DRAIN_TIMEOUT": "1s"}
    timeline = tmp_path / "timeline.json"
    options = ["--grace-period", "10s", "--timeline", str(timeline)]
    emulator = subprocess.Popen(
        [sys.executable, "-m", "hookrun", "--config", str(ROOT / "config/nginx.toml"), "emulate",
         *options, *(["--pid-namespace"] if pid_namespace else []), "--", *argv],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    download = Download(port)
    try:
        assert emulator.stderr is not None
        for _ in range(200):  # poststart says when nginx listens (bounded)
            line = emulator.stderr.readline()
            if "wait-listening: ok" in line or not line:
                break
        assert "wait-listening: ok" in line
        client = threading.Thread(target=download.run, daemon=True)
        client.start()
        assert download.started.wait(5)
        deleted = time.time()
        os.kill(emulator.pid, signal.SIGINT)  # the pod is deleted while the download runs
        out, err = emulator.communicate(timeout=30)
        client.join(10)
    finally:
        if emulator.poll() is None:
            emulator.kill()
            emulator.communicate(timeout=20)
    t = json.loads(timeline.read_text())
    steps = {s["name"]: s for h in t["hooks"] if h["hook"] == "prestop" for s in h["steps"]}
    assert emulator.returncode == 0, err
    assert t["pid_namespace"] is pid_namespace
    assert 0 <= t["started_wall"] + t["stop_at"] - deleted <= 1.0
    # the hook did the work: registry told, the drain saw the download, QUIT sent
    assert [json.loads(r.body) for r in registry.requests] == [{"pod": "web-0"}]
    assert steps["deregister"]["status"] == "ok" and steps["endpoint-race"]["status"] == "ok"
    assert steps["drain"]["status"] == "timeout"
    assert steps["quit"]["status"] == "ok"
    # nginx finished the download and exited during prestop: no SIGTERM, no SIGKILL needed
    assert download.received == SIZE
    assert t["term_at"] is None and t["kill_at"] is None
    assert t["app_status"] == 0
    assert t["app_exit_at"] - t["stop_at"] <= t["grace_s"]
    assert steps["wait-exit"]["status"] in ("ok", "killed")  # the hook ends with the container
    assert t["verdict"].startswith("graceful: app exited during prestop")
    assert t["verdict"] in out
    assert [p.pid for p in scan() if p.name == unique and not p.zombie] == []
