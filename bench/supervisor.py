"""What the command supervisor costs, and how fast it cleans up after a SIGKILLed hookrun.

1. Per-command overhead: procs.run_command (fork of a supervisor, subreaper, reports over a
   pipe) against the baseline it replaced: subprocess.Popen in a new session, output piped,
   wait, group kill. Both run `true` the same number of times in this process.
2. Cleanup latency: a hookrun-like process runs a step whose grandchild left the session
   (setsid + double fork); the process is SIGKILLed; the time until every process of the
   step has exited is measured, against the time the kernel takes to report the SIGKILLed
   process itself gone (the baseline: nothing can be faster than that).

    python bench/supervisor.py [--runs 200] [--kills 30]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hookrun.system.clock import MonotonicClock  # noqa: E402
from hookrun.system.commands import run_command  # noqa: E402
from hookrun.system.control import kill_group  # noqa: E402

STEP = """
import os, sys
from hookrun.system.clock import MonotonicClock
from hookrun.system.commands import run_command
script = "setsid sh -c 'sleep 300 & echo $!' & echo $$; sleep 300"
clock = MonotonicClock()
run_command(["sh", "-c", script], dict(os.environ), None, clock.now() + 60, clock,
            lambda line: print(line, flush=True))
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def baseline_once() -> float:
    began = time.monotonic()
    proc = subprocess.Popen(["true"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    assert proc.stdout is not None
    proc.stdout.read()
    proc.wait()
    kill_group(proc.pid)
    proc.stdout.close()
    return time.monotonic() - began


def supervised_once(clock: MonotonicClock) -> float:
    began = time.monotonic()
    done = run_command(["true"], dict(os.environ), None, clock.now() + 10, clock, lambda line: None)
    assert done.code == 0
    return time.monotonic() - began


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def cleanup_once() -> tuple[float, float]:
    """(kernel reports the SIGKILLed runner gone, the step's last process gone), in seconds."""
    runner = subprocess.Popen([sys.executable, "-c", STEP], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert runner.stdout is not None
    pids = [int(runner.stdout.readline()) for _ in range(2)]
    os.kill(runner.pid, signal.SIGKILL)
    killed = time.monotonic()
    runner.wait()
    reaped = time.monotonic() - killed
    end = killed + 5
    while any(alive(pid) for pid in pids) and time.monotonic() < end:
        time.sleep(0.0005)
    gone = time.monotonic() - killed
    runner.stdout.close()
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            raise SystemExit(f"pid {pid} outlived the SIGKILLed runner by 5 s")
    return reaped, gone


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--kills", type=int, default=30)
    args = parser.parse_args()
    clock = MonotonicClock()
    base, sup = [], []
    for _ in range(args.runs):  # interleaved, so that machine noise hits both alike
        base.append(baseline_once())
        sup.append(supervised_once(clock))
    print(f"per command ({args.runs} runs of `true`):")
    for label, values in (("Popen baseline", base), ("supervised", sup)):
        print(f"  {label:15} median {percentile(values, 50) * 1000:6.2f} ms  "
              f"p95 {percentile(values, 95) * 1000:6.2f} ms")
    extra = percentile(sup, 50) - percentile(base, 50)
    print(f"  ratio {percentile(sup, 50) / percentile(base, 50):.2f}x, "
          f"+{extra * 1000:.2f} ms per command (median)")
    results = [cleanup_once() for _ in range(args.kills)]
    reaped, gone = [r for r, _ in results], [g for _, g in results]
    print(f"after SIGKILL of the runner ({args.kills} runs, grandchild outside the session):")
    for label, values in (("runner reaped", reaped), ("step all gone", gone)):
        print(f"  {label:15} median {percentile(values, 50) * 1000:6.2f} ms  "
              f"p95 {percentile(values, 95) * 1000:6.2f} ms  max {max(values) * 1000:6.2f} ms")


if __name__ == "__main__":
    main()
