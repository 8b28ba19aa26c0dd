"""bench/termination.py end to end on one small cell: dense traffic, pod A out of rotation 1 s
after the delete. Without a hook the pod loses about 100 requests a second until then; a hook
that sleeps longer than that before QUIT loses none and is gone after its sleep. The benchmark
leaves no process and no file behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def test_one_cell_reports_coherent_numbers(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: pod A runs in a PID namespace of its own")
    if shutil.which("haproxy") is None or not os.access("/usr/sbin/nginx", os.X_OK):
        pytest.skip("needs nginx and haproxy (build/system-deps.sh installs them)")
    out = tmp_path / "runs.json"
    done = subprocess.run(
        [sys.executable, "bench/termination.py", "--cells", "dense:1", "--scenarios", "no-hook,sleep-quit",
         "--sleep", "2", "--runs", "1", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(out.read_text())
    runs = {run["scenario"]: run for run in document["runs"]}
    assert set(runs) == {"no-hook", "sleep-quit"}, document

    for run in runs.values():
        assert run["traffic"] == "dense" and run["d"] == 1
        assert run["failed_before_delete"] == 0, run  # the lab itself loses nothing
        assert 1.0 <= run["out_of_rotation_s"] <= 1.5, run
        assert run["requests"] >= 200, run  # ~200 req/s for at least 2.3 s
        assert run["failed"] == sum(run["causes"].values()) == len(run["failures"])

    no_hook = runs["no-hook"]
    assert 30 <= no_hook["failed"] <= 400, no_hook  # ~100 req/s reach pod A for ~1 s
    assert set(no_hook["failed_by_pod"]) == {"a"}, no_hook
    assert all(-0.6 <= f["t"] <= 1.1 for f in no_hook["failures"]), no_hook["failures"]
    assert no_hook["gone_s"] is not None and no_hook["gone_s"] < 1.0, no_hook

    sleeper = runs["sleep-quit"]  # sleep 2 s > D = 1 s: the balancer has moved on before QUIT
    assert sleeper["failed"] == 0, sleeper
    assert sleeper["gone_s"] is not None and 2.0 <= sleeper["gone_s"] <= 4.0, sleeper
    assert "graceful" in sleeper["verdict"], sleeper

    # the table says the same
    row = next(line for line in done.stdout.splitlines() if line.startswith("dense"))
    assert f"{no_hook['failed']} / " in row and "0 / " in row, done.stdout
    assert "CPU during the run" in done.stdout
    # nothing left behind
    workdir = document["workdir"]
    assert not Path(workdir).exists()
    leftovers = subprocess.run(["pgrep", "-f", workdir], capture_output=True, text=True, check=False)
    assert leftovers.stdout == "", leftovers.stdout
