"""Start-up of the built binaries (dist/, `make binary`): CPU time, under a CPU limit, memory.

A hook's start-up is taken out of the grace period, and under a CPU limit it is CPU time that
counts (a pod limited to 100m gets 10 ms of CPU per 100 ms). Measured in one run, against
`/usr/bin/python3 -c pass` on the same machine at the same time:

1. CPU time (user + system, of the whole process tree) of a no-op prestop hook (one `sleep =
   "0s"` step) and of `hookrun version`, each variant and the baseline interleaved round by
   round so that noise hits all alike; medians, the middle half as spread, and the ratio of
   medians. Targets: no-op hook <= 4x the baseline (one-dir), <= 6x (one-file, static).
2. Under a CPU quota of 100m (a cgroup made here and removed after: cgroup v1's `cpu`
   controller, or `cpu.max` under cgroup v2): how long after launch the first step of
   config/nginx.toml's prestop starts (its "start" log line arrives). Target one-dir <= 0.8 s.
3. Peak memory charged to a memory cgroup made here (v1 `memory.max_usage_in_bytes`, v2
   `memory.peak`) by a no-op hook and by a prestop with an http step against a local server.
   Targets (one-dir): <= 15 MB and <= 25 MB. The one-file and static builds also charge the
   bundle they unpack (page cache of the files written), so theirs are larger.
4. Size of each variant, and the modules a no-op hook imports from source.

Usage: python bench/startup.py [--runs N] [--quota-runs N] [--dist DIR]. Root is needed for
the cgroups (parts 2 and 3 are skipped with a note otherwise).
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
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "python3 -c pass"
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
CPU_TARGET = {"one-dir": 4.0, "one-file": 6.0, "static": 6.0}  # x the baseline, no-op hook
FIRST_STEP_TARGET_S = {"one-dir": 0.8}
MEMORY_TARGET_MB = {("one-dir", "no-op hook"): 15.0, ("one-dir", "http step"): 25.0}
QUOTA_US, PERIOD_US = 10_000, 100_000  # 100m


def variants(dist: Path) -> dict[str, Path]:
    found = {"one-dir": dist / "hookrun-dir" / "hookrun", "one-file": dist / "hookrun",
             "static": dist / "hookrun-static"}
    return {name: path for name, path in found.items() if path.is_file()}


def env_for(config: Path, tmpdir: str, **more: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TMPDIR": tmpdir,
            "HOOKRUN_CONFIG": str(config), "HOOKRUN_LOG_TARGET": "stderr",
            "HOOKRUN_STATE_DIR": str(Path(tmpdir) / "state"), **more}


def verdict(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return f"  (target <= {target:g}: {'ok' if value <= target else 'MISSED'})"


# --- 1. CPU time ---------------------------------------------------------------------------------

def cpu_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU ms, wall ms) of one run. wait4's usage covers the child and every descendant it
    waited for (the one-file bootloader waits for Python, the staticx launcher for both)."""
    started = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=[
        (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} exited {os.waitstatus_to_exitcode(status)}")
    return (usage.ru_utime + usage.ru_stime) * 1000, wall * 1000


def cpu_times(commands: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():  # the page cache warmed once
        cpu_once(argv, env)
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(cpu_once(argv, env)[0])
    return samples


def spread(values: list[float]) -> str:
    low, _, high = statistics.quantiles(values, n=4)
    return f"{low:.1f}-{high:.1f}"


def report_cpu(found: dict[str, Path], python: str, tmp: str, runs: int) -> None:
    noop = Path(tmp) / "noop.toml"
    noop.write_text(NOOP)
    commands = {BASELINE: [python, "-c", "pass"]}
    for name, path in found.items():
        commands[f"{name} no-op hook"] = [str(path), "prestop"]
        commands[f"{name} version"] = [str(path), "version"]
    samples = cpu_times(commands, env_for(noop, tmp), runs)
    base = statistics.median(samples[BASELINE])
    print(f"CPU time (user + system), median of {runs} interleaved runs [middle half]:")
    for name, values in samples.items():
        median = statistics.median(values)
        variant, _, what = name.partition(" ")
        target = CPU_TARGET.get(variant) if what == "no-op hook" else None
        print(f"  {name:22s} {median:6.1f} ms [{spread(values):>11s}]  {median / base:5.2f}x"
              f"{verdict(median / base, target)}")


# --- cgroups -------------------------------------------------------------------------------------

def cgroup_root(controller: str) -> tuple[Path, bool] | None:
    """This process's own cgroup for `controller` (a new one is made under it), and whether
    it is cgroup v1. Under v2 the controller must be enabled for children (best effort)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") and (Path("/sys/fs/cgroup") / controller).is_dir():
            return Path("/sys/fs/cgroup") / controller / path.lstrip("/"), True
    unified = Path("/sys/fs/cgroup/cgroup.controllers")
    if unified.is_file() and controller in unified.read_text().split():
        own = next(line for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::"))
        parent = Path("/sys/fs/cgroup") / own.split(":", 2)[2].lstrip("/")
        with contextlib.suppress(OSError):
            (parent / "cgroup.subtree_control").write_text(f"+{controller}")
        return parent, False
    return None


@contextlib.contextmanager
def cgroup(controller: str, settings: dict[str, str]) -> Iterator[Path]:
    """A fresh cgroup (removed afterwards) with `settings` written into it."""
    found = cgroup_root(controller)
    if found is None or not os.access(found[0], os.W_OK):
        raise PermissionError(f"no writable {controller} cgroup here (root is needed)")
    path = found[0] / f"hookrun-bench-{os.getpid()}-{time.monotonic_ns()}"
    path.mkdir()
    try:
        for name, value in settings.items():
            (path / name).write_text(value)
        yield path
    finally:
        for _ in range(50):  # bounded: the processes in it are gone or going
            try:
                path.rmdir()
                break
            except OSError:
                time.sleep(0.02)


def quota_settings() -> dict[str, str]:
    found = cgroup_root("cpu")
    if found is not None and found[1]:
        return {"cpu.cfs_period_us": str(PERIOD_US), "cpu.cfs_quota_us": str(QUOTA_US)}
    return {"cpu.max": f"{QUOTA_US} {PERIOD_US}"}


def spawn_in(group: Path, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    procs = group / "cgroup.procs"

    def join() -> None:  # in the child, before exec: every process of the tree is inside
        procs.write_text(str(os.getpid()))

    return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=join, start_new_session=True)


# --- 2. the first step under 100m ----------------------------------------------------------------

def first_step_after(argv: list[str], env: dict[str, str], marker: bytes) -> float:
    """Seconds from launch, in the quota cgroup, until a stderr line containing `marker`."""
    with cgroup("cpu", quota_settings()) as group:
        started = time.monotonic()
        proc = spawn_in(group, argv, env)
        assert proc.stderr is not None
        seen = None
        buffer = b""
        try:
            deadline = started + 30
            while seen is None and time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stderr], [], [], deadline - time.monotonic())
                chunk = os.read(proc.stderr.fileno(), 65536) if ready else b""
                if not chunk:
                    break
                buffer += chunk
                if marker in buffer:
                    seen = time.monotonic() - started
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)  # the hook's own process group (start_new_session)
            proc.wait(30)
            proc.stderr.close()
    if seen is None:
        raise SystemExit(f"{' '.join(argv)}: no {marker.decode()!r} line; it said:\n{buffer.decode()[-2000:]}")
    return seen


def report_quota(found: dict[str, Path], tmp: str, runs: int) -> None:
    config = Path(tmp) / "nginx.toml"
    shutil.copy(ROOT / "config" / "nginx.toml", config)
    env = env_for(config, tmp, HOOKRUN_GRACE_PERIOD="30s")
    marker = b"hookrun prestop endpoint-race: start:"
    samples: dict[str, list[float]] = {name: [] for name in found}
    for _ in range(runs):
        for name, path in found.items():
            samples[name].append(first_step_after([str(path), "prestop"], env, marker))
    print(f"first step of config/nginx.toml's prestop under a CPU quota of {QUOTA_US // 1000}/{PERIOD_US // 1000} ms "
          f"(100m), seconds from launch, median of {runs} [min-max]:")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"  {name:22s} {median:6.2f} s [{min(values):.2f}-{max(values):.2f}]"
              f"{verdict(median, FIRST_STEP_TARGET_S.get(name))}")


# --- 3. memory -----------------------------------------------------------------------------------

def peak_charged_mb(argv: list[str], env: dict[str, str]) -> float:
    found = cgroup_root("memory")
    v1 = found is not None and found[1]
    with cgroup("memory", {}) as group:
        proc = spawn_in(group, argv, env)
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {err.decode()[-1000:]}")
        peak = int((group / ("memory.max_usage_in_bytes" if v1 else "memory.peak")).read_text())
        if v1:  # what the files it wrote keep charged goes to the parent, not left behind
            with contextlib.suppress(OSError):
                (group / "memory.force_empty").write_text("0")
    return peak / 2**20


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(0.3)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def report_memory(found: dict[str, Path], tmp: str, runs: int) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        noop, http_config = Path(tmp) / "noop.toml", Path(tmp) / "http.toml"
        noop.write_text(NOOP)
        http_config.write_text(HTTP.format(port=server.server_address[1]))
        print(f"peak memory charged to a memory cgroup, median of {runs}:")
        for what, config in (("no-op hook", noop), ("http step", http_config)):
            for name, path in found.items():
                values = [peak_charged_mb([str(path), "prestop"], env_for(config, tmp)) for _ in range(runs)]
                median = statistics.median(values)
                print(f"  {name:10s} {what:12s} {median:6.1f} MB [{min(values):.1f}-{max(values):.1f}]"
                      f"{verdict(median, MEMORY_TARGET_MB.get((name, what)))}")
    finally:
        server.shutdown()
        server.server_close()


# --- 4. size and imports -------------------------------------------------------------------------

def size_mb(path: Path) -> float:
    if path.parent.name == "hookrun-dir":
        return sum(f.stat().st_size for f in path.parent.rglob("*") if f.is_file()) / 1e6
    return path.stat().st_size / 1e6


def imports_of_noop_hook(config: Path) -> tuple[int, list[str]]:
    result = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c",
         f"import sys; sys.path.insert(0, {str(ROOT)!r}); from hookrun.cli import main; "
         f"sys.exit(main(['--config', {str(config)!r}, '--log-target', 'stderr', 'prestop']))"],
        capture_output=True, text=True, timeout=60, check=False)
    modules = [line.split("|")[-1].strip() for line in result.stderr.splitlines()
               if line.startswith("import time:") and "|" in line][1:]
    heavy = sorted({m.split(".")[0] for m in modules} & {"httpx", "ssl", "psutil", "asyncio", "argparse",
                                                       "dataclasses", "inspect", "pathlib", "subprocess"})
    return len(modules), heavy


def part(title: str, run: Callable[[], None]) -> None:
    try:
        run()
    except PermissionError as err:
        print(f"{title}: skipped ({err})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="CPU time rounds")
    parser.add_argument("--quota-runs", type=int, default=5, help="runs under the CPU quota and in the memory cgroup")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    found = variants(args.dist)
    if not found:
        print(f"no built binaries in {args.dist}: run `make binary` first", file=sys.stderr)
        return 1
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else shutil.which("python3") or "python3"
    with tempfile.TemporaryDirectory(prefix="hookrun-bench-") as tmp:
        report_cpu(found, python, tmp, args.runs)
        part("CPU quota", lambda: report_quota(found, tmp, args.quota_runs))
        part("memory", lambda: report_memory(found, tmp, args.quota_runs))
        print("size:")
        for name, path in found.items():
            print(f"  {name:22s} {size_mb(path):6.1f} MB")
        noop = Path(tmp) / "noop.toml"
        count, heavy = imports_of_noop_hook(noop)
        print(f"a no-op hook from source imports {count} modules; of httpx, ssl, psutil, asyncio, argparse, "
              f"dataclasses, inspect, pathlib, subprocess: {', '.join(heavy) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
