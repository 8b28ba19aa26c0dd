"""Start-up time, size and peak memory of the built binaries (dist/, `make binary`).

Measured in one run, against `python3 -c pass` on the same machine at the same time:
- start-up: wall time of `hookrun version` and of a no-op prestop hook (one `sleep = "0s"`
  step), median of N runs, the commands interleaved so that noise hits all alike;
- size of each variant (the one-dir: its whole directory);
- peak memory of a prestop with one http step: the resident memory of every process of the
  hookrun tree (the one-file bootloader, the staticx launcher and Python) summed, its peak
  sampled every millisecond while a local server holds the response for 300 ms; beside it the
  sum of each process's own peak (VmHWM), an upper bound;
- the modules a no-op hook imports from source (`python -X importtime`): httpx must not be one.

Usage: python bench/startup.py [--runs N] [--dist DIR]. Targets (this machine, 2 cores):
one-dir no-op hook <= 120 ms, one-file <= 250 ms, one-file <= 12 MB, peak memory <= 40 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOOP = """\
[settings]
grace_period = "30s"
[prestop]
[[prestop.steps]]
name = "noop"
sleep = "0s"
"""
HTTP = """\
[settings]
grace_period = "30s"
[prestop]
[[prestop.steps]]
name = "deregister"
http = {{ method = "POST", url = "http://127.0.0.1:{port}/deregister", json = {{ pod = "bench" }} }}
timeout = "5s"
"""
TARGETS = {("one-dir", "no-op hook"): 120.0, ("one-file", "no-op hook"): 250.0}
SIZE_TARGET_MB = {"one-file": 12.0}
MEMORY_TARGET_MB = 40.0


def variants(dist: Path) -> dict[str, Path]:
    found = {"one-file": dist / "hookrun", "one-dir": dist / "hookrun-dir" / "hookrun",
             "static": dist / "hookrun-static"}
    return {name: path for name, path in found.items() if path.is_file()}


def env_for(config: Path, tmpdir: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TMPDIR": tmpdir,
            "HOOKRUN_CONFIG": str(config), "HOOKRUN_LOG_TARGET": "stderr"}


def time_once(argv: list[str], env: dict[str, str]) -> float:
    """Wall time from spawn to exit. Waits on a pidfd: subprocess's wait(timeout=...) polls
    with sleeps of up to 50 ms, which would be measured too."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pidfd = os.pidfd_open(proc.pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], 60.0)
        seconds = time.perf_counter() - started
    finally:
        os.close(pidfd)
    if not ready:
        proc.kill()
    code = proc.wait()
    if not ready or code != 0:
        raise SystemExit(f"{' '.join(argv)} {'hung' if not ready else f'exited {code}'}")
    return seconds


def startup(commands: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():  # warm the page cache once
        time_once(argv, env)
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(time_once(argv, env) * 1000)
    return samples


def size_mb(path: Path) -> float:
    if path.parent.name == "hookrun-dir":
        total = sum(f.stat().st_size for f in path.parent.rglob("*") if f.is_file())
    else:
        total = path.stat().st_size
    return total / 1e6


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(0.3)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        with contextlib.suppress(OSError):
            todo += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
    return pids


def _memory_kb(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) of a process."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


def peak_memory(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, int]:
    """Peak of the tree's summed resident memory (MB, sampled every millisecond), the sum of
    each process's own peak (VmHWM: an upper bound, those peaks need not coincide), how many
    processes, and the exit code."""
    highs: dict[int, int] = {}
    together = 0
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        now = 0
        for pid in _tree(proc.pid):
            sample = _memory_kb(pid)
            if sample is not None:
                now += sample[0]
                highs[pid] = max(highs.get(pid, 0), sample[1])
        together = max(together, now)
        time.sleep(0.001)
    code = proc.wait(30)
    return together / 1024, sum(highs.values()) / 1024, len(highs), code


def imports_of_noop_hook(config: Path) -> tuple[int, list[str]]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hookrun", "--config", str(config),
         "--log-target", "stderr", "prestop"],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    modules = [line.split("|")[-1].strip() for line in result.stderr.splitlines()
               if line.startswith("import time:") and "|" in line][1:]
    heavy = sorted({m.split(".")[0] for m in modules} & {"httpx", "httpcore", "ssl", "psutil", "asyncio"})
    return len(modules), heavy


def verdict(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return f"  (target <= {target:g}: {'ok' if value <= target else 'MISSED'})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    found = variants(args.dist)
    if not found:
        print(f"no built binaries in {args.dist}: run `make binary` first", file=sys.stderr)
        return 1
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else shutil.which("python3") or "python3"
    with tempfile.TemporaryDirectory(prefix="hookrun-bench-") as tmp:
        noop = Path(tmp) / "noop.toml"
        noop.write_text(NOOP)
        env = env_for(noop, tmp)
        commands = {"python3 -c pass": [python, "-c", "pass"]}
        for name, path in found.items():
            commands[f"{name} version"] = [str(path), "version"]
            commands[f"{name} no-op hook"] = [str(path), "prestop"]
        samples = startup(commands, env, args.runs)
        base = statistics.median(samples["python3 -c pass"])
        print(f"start-up, median of {args.runs} runs ({python} -c pass = {base:.1f} ms):")
        for name, values in samples.items():
            median = statistics.median(values)
            variant, _, what = name.partition(" ")
            print(f"  {name:24s} {median:7.1f} ms  {median / base:5.1f}x python"
                  f"  (min {min(values):.1f}){verdict(median, TARGETS.get((variant, what)))}")

        print("size:")
        for name, path in found.items():
            print(f"  {name:24s} {size_mb(path):7.1f} MB{verdict(size_mb(path), SIZE_TARGET_MB.get(name))}")

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            config = Path(tmp) / "http.toml"
            config.write_text(HTTP.format(port=server.server_address[1]))
            print("peak memory of a prestop with an http step, all hookrun processes (resident, "
                  "summed; in brackets the sum of each process's own peak):")
            for name, path in found.items():
                mb, upper, count, code = peak_memory([str(path), "prestop"], env_for(config, tmp))
                if code == 2:
                    print(f"  {name:24s} n/a: this build has no http step")
                    continue
                status = "" if code == 0 else f", exit {code}"
                print(f"  {name:24s} {mb:7.1f} MB  [{upper:.1f} MB] in {count} process(es){status}"
                      f"{verdict(mb, MEMORY_TARGET_MB)}")
        finally:
            server.shutdown()
            server.server_close()

        count, heavy = imports_of_noop_hook(noop)
        print(f"no-op hook from source imports {count} modules; of httpx, httpcore, ssl, psutil, "
              f"asyncio: {', '.join(heavy) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
