"""Exit-detection latency: hookrun's wait_exit against `while killall -0 NAME; do sleep 1; done`.

For each run a target process with a name of its own is killed at a random moment while the
waiter waits; the latency is the time from the kill to the waiter noticing: for the loop, the
moment the shell exits; for hookrun, the moment its `ok` log line for that step arrives.
hookrun runs all its waits as consecutive steps of one hook (one wait_exit per target name).

    python bench/exit_latency.py [--runs 200] [--loop-runs 20]
Targets: hookrun median <= 10 ms, p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def targets(tmp: Path, count: int) -> list[tuple[str, subprocess.Popen[bytes]]]:
    """`count` sleeping processes, each started through a link that gives it a unique name."""
    tag = uuid.uuid4().hex[:6]
    started = []
    for index in range(count):
        name = f"hrb{tag}-{index}"
        link = tmp / name
        link.symlink_to(shutil.which("sleep") or "/bin/sleep")
        started.append((name, subprocess.Popen([str(link), "3600"])))
    return started


def kill(proc: subprocess.Popen[bytes]) -> float:
    proc.kill()
    at = time.monotonic()
    proc.wait()  # reaped at once, so that neither waiter sees a zombie
    return at


def loop_latencies(tmp: Path, runs: int) -> list[float]:
    latencies = []
    for name, target in targets(tmp, runs):
        loop = subprocess.Popen(["bash", "-c", f"while killall -0 {name} 2>/dev/null; do sleep 1; done"])
        time.sleep(random.uniform(0.2, 1.2))
        killed = kill(target)
        loop.wait()
        latencies.append(time.monotonic() - killed)
    return latencies


def hookrun_latencies(tmp: Path, runs: int) -> list[float]:
    started = targets(tmp, runs)
    steps = "".join(f'[[run.steps]]\nname = "w{i}"\nwait_exit = {{ process = "{name}" }}\n'
                    for i, (name, _) in enumerate(started))
    config = tmp / "bench.toml"
    config.write_text(f'[run]\ntimeout = "{runs}s"\n{steps}')
    hookrun = subprocess.Popen(
        [sys.executable, "-m", "hookrun", "--config", str(config), "--log-format", "json",
         "--log-target", "stderr", "run", "run"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert hookrun.stderr is not None
    latencies = []
    try:
        for index, (_, target) in enumerate(started):
            event = json.loads(hookrun.stderr.readline())
            assert (event["step"], event["event"]) == (f"w{index}", "start"), event
            time.sleep(random.uniform(0.05, 0.25))  # it is now waiting
            killed = kill(target)
            event = json.loads(hookrun.stderr.readline())
            latencies.append(time.monotonic() - killed)
            assert (event["step"], event["event"]) == (f"w{index}", "ok"), event
    finally:
        for _, target in started:
            if target.poll() is None:
                kill(target)
        hookrun.wait(timeout=30)
    return latencies


def show(label: str, values: list[float]) -> None:
    ms = [v * 1000 for v in values]
    print(f"{label:<30} runs {len(ms):>4}  median {percentile(ms, 50):8.1f} ms  "
          f"p99 {percentile(ms, 99):8.1f} ms  max {max(ms):8.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--loop-runs", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("killall") is None:
        print("killall is missing (Debian package psmisc; build/system-deps.sh installs it)")
        return 1
    with tempfile.TemporaryDirectory(prefix="hookrun-bench-") as tmp:
        ours = hookrun_latencies(Path(tmp), args.runs)
        loop = loop_latencies(Path(tmp), args.loop_runs)
    print("exit-detection latency (kill of the target -> the waiter notices)")
    show("hookrun wait_exit", ours)
    show("while killall -0; sleep 1 loop", loop)
    median, p99 = percentile(ours, 50) * 1000, percentile(ours, 99) * 1000
    print(f"ratio (loop median / hookrun median): {percentile(loop, 50) / percentile(ours, 50):.0f}x")
    ok = median <= 10 and p99 <= 50
    print(f"target hookrun median <= 10 ms and p99 <= 50 ms: {'met' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
