"""The shipped configs of the other servers, each proven against the real server under load
through a real balancer: bench/termination.py's lab (haproxy in TCP mode without retries, like
kube-proxy; pod A out of rotation D s after the delete, in haproxy and in the lab's Kubernetes
API at once; the kubelet's timing from `hookrun emulate`), run for dense traffic (a new
connection per request) and for keep-alive clients pinned to pod A.

- gunicorn (gthread), uvicorn, haproxy as the app, php-fpm behind nginx (two containers, each
  with its hook): zero failed requests, pod A served until it left rotation, and the app
  exited during preStop on its own graceful stop.
- The same without the Kubernetes API: the quiet fallback loses nothing either.
- Controls, each the same lab with one thing of the config taken away, so the zero above is a
  measurement and not a lab that cannot fail: without the endpoint race every server loses
  requests; haproxy stopped by TERM instead of USR1 cuts answers; php-fpm stopped by TERM
  instead of QUIT (and without waiting for nginx) cuts answers or answers 502."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow

SERVERS = ["gunicorn.toml", "uvicorn.toml", "haproxy.toml", "php-fpm.toml"]
RACE_STEPS = ("endpoint-race", "quiet-instead", "nginx-stopped")  # what waits for the endpoint removal


def missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root: pod A runs in PID namespaces of its own"
    if shutil.which("haproxy") is None or not os.access("/usr/sbin/nginx", os.X_OK):
        return "needs nginx and haproxy (build/system-deps.sh installs them)"
    if not os.access("/usr/sbin/php-fpm8.2", os.X_OK):
        return "needs php-fpm (build/system-deps.sh installs php8.2-fpm)"
    bin_dir = Path(sys.executable).parent
    if not all(os.access(bin_dir / name, os.X_OK) for name in ("gunicorn", "uvicorn")):
        return "needs gunicorn and uvicorn (the dev extras)"
    return None


def bench(workdir: Path, scenarios: list[str], cells: str, runs: int = 1,
          config_dir: Path | None = None) -> list[dict[str, Any]]:
    """Run the benchmark; its runs (and a check that it left nothing behind)."""
    if problem := missing():
        pytest.skip(problem)
    out = workdir / f"runs-{len(list(workdir.glob('runs-*')))}.json"
    argv = [sys.executable, "bench/termination.py", "--cells", cells, "--scenarios", ",".join(scenarios),
            "--runs", str(runs), "--json", str(out)]
    if config_dir is not None:
        argv += ["--config-dir", str(config_dir)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(out.read_text())
    assert not Path(document["workdir"]).exists()
    leftovers = subprocess.run(["pgrep", "-f", document["workdir"]], capture_output=True, text=True, check=False)
    assert leftovers.stdout == "", leftovers.stdout
    for run in document["runs"]:
        assert run["failed_before_delete"] == 0, run  # the lab itself loses nothing
        assert run["failed"] == sum(run["causes"].values()) == len(run["failures"]), run
    runs_found: list[dict[str, Any]] = document["runs"]
    return runs_found


def config_copy(into: Path, name: str, edit: Any) -> Path:
    """config/ copied to `into`, with `name` changed by edit(text) -> text."""
    shutil.copytree(ROOT / "config", into)
    path = into / name
    changed = edit(path.read_text())
    assert changed != path.read_text(), f"the control's edit of {name} changed nothing"
    path.write_text(changed)
    return into


def without_steps(names: tuple[str, ...]) -> Any:
    def edit(text: str) -> str:
        blocks = text.split("[[prestop.steps]]")
        return "[[prestop.steps]]".join(b for b in blocks if not any(f'name = "{n}"' in b for n in names))
    return edit


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return bench(tmp_path_factory.mktemp("shipped"), SERVERS, "keepalive:1,dense:1")


@pytest.mark.parametrize("server", SERVERS)
def test_the_shipped_config_loses_no_request_and_stops_gracefully(shipped: list[dict[str, Any]],
                                                                   server: str) -> None:
    runs = [run for run in shipped if run["scenario"] == server]
    assert {run["traffic"] for run in runs} == {"keepalive", "dense"}, shipped
    for run in runs:
        assert run["failed"] == 0, run
        assert run["requests"] >= 150, run  # 80 or 200 req/s for at least 2 s
        # pod A was under load until it left rotation: the zero is not an idle pod's
        assert run["answered_by_a_after_delete"] >= 10, run
        assert run["last_answer_by_a_s"] >= run["out_of_rotation_s"] - 0.3, run
        # it waited for the removal plus the margin (500 ms here), then stopped within bounds
        assert run["gone_s"] is not None, run
        assert run["out_of_rotation_s"] + 0.3 <= run["gone_s"] <= run["out_of_rotation_s"] + 5.0, run
        for verdict in run["verdict"].split("; nginx: "):  # php-fpm's pod: "php-fpm: ...; nginx: ..."
            text = verdict.removeprefix("php-fpm: ")
            assert text.startswith("graceful: app exited during prestop"), run["verdict"]
            notable = re.search(r"prestop steps: ([^;]*)", text)  # steps not ok: only skips allowed
            assert notable is None or all(s.endswith(" skipped") for s in notable.group(1).split(", ")), text
            assert "prestop exit" not in text, text


def test_without_the_api_the_fallback_loses_no_request_either(tmp_path: Path) -> None:
    """Where the API cannot be read, endpoint-race fails at once and quiet-instead waits (at
    least ENDPOINT_GRACE = 5 s): keep-alive clients pinned to pod A, whose requests are no new
    connections; for php-fpm, both containers fall back, and php-fpm still waits for nginx."""
    runs = bench(tmp_path, [f"{server}-noapi" for server in SERVERS], "keepalive:1")
    assert {run["scenario"] for run in runs} == {f"{server}-noapi" for server in SERVERS}, runs
    for run in runs:
        assert run["failed"] == 0, run
        assert run["answered_by_a_after_delete"] >= 10, run
        assert 5.0 <= run["gone_s"] <= 5.0 + 5.0, run  # never before ENDPOINT_GRACE
        for verdict in run["verdict"].split("; nginx: "):
            text = verdict.removeprefix("php-fpm: ")
            assert text.startswith("graceful: app exited during prestop"), run["verdict"]
            assert "endpoint-race failed" in text, text  # the fallback really ran
            assert "prestop exit" not in text, text


def test_without_the_endpoint_race_every_server_loses_requests(tmp_path: Path) -> None:
    """Each config with its endpoint wait taken out: the server stops at the delete, while the
    balancer still sends it traffic for D = 1 s."""
    for server in SERVERS:
        controls = config_copy(tmp_path / server, server, without_steps(RACE_STEPS))
        (run,) = bench(tmp_path, [server], "dense:1", config_dir=controls)
        assert run["failed"] >= 20, run  # ~100 req/s reach pod A for ~1 s
        assert set(run["failed_by_pod"]) == {"a"}, run
        assert all(-0.2 <= f["t"] <= 1.6 for f in run["failures"]), run["failures"]


def test_haproxy_hard_stop_cuts_answers_its_soft_stop_finishes(tmp_path: Path) -> None:
    """TERM in place of USR1, after the same endpoint race: the answers in flight on the
    keep-alive connections are cut (two terminations: ~6 answers are in flight at the signal)."""
    controls = config_copy(tmp_path / "haproxy", "haproxy.toml",
                           lambda text: text.replace('signal = "USR1"', 'signal = "TERM"'))
    runs = bench(tmp_path, ["haproxy.toml"], "keepalive:1", runs=2, config_dir=controls)
    assert sum(run["failed"] for run in runs) > 0, runs
    assert all(set(run["failed_by_pod"]) <= {"a"} for run in runs), runs


def test_php_fpm_stopped_by_term_cuts_requests_in_flight(tmp_path: Path) -> None:
    """TERM in place of QUIT, right after the endpoint race (nginx-stopped taken out, so that
    requests are still in flight): php-fpm kills its children, nginx answers 502 or cuts."""
    def term(text: str) -> str:
        return without_steps(("nginx-stopped",))(text).replace('signal = "QUIT", all = false',
                                                              'signal = "TERM", all = false')
    controls = config_copy(tmp_path / "php-fpm", "php-fpm.toml", term)
    runs = bench(tmp_path, ["php-fpm.toml"], "keepalive:1", runs=2, config_dir=controls)
    assert sum(run["failed"] for run in runs) > 0, runs
    assert all(set(run["failed_by_pod"]) <= {"a"} for run in runs), runs
