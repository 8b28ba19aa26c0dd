"""The real CLI over generated hostile configs: validate, plan, and a real run in bounded time.

Whatever `validate` accepts must run without an internal error, and whatever cannot run must be
a located config error (exit 2). Exit codes are 0, 1, 2 or 124 only; no traceback; no hang.
Every target is this test's own (files in its directory, loopback ports where nothing listens,
process names no process has): the runs change nothing outside.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ROOT
from support.cli import hookrun, hookrun_argv

ALLOWED = {0, 1, 2, 124}
NOBODY = "hr-fuzz-" + uuid.uuid4().hex[:6]  # no process has this name

DURATIONS = st.sampled_from(["0s", "1ms", "250ms", "720h", "3000000h", "99999999999999999999",
                             "1e300", "-1s", "1.5", 1e300, 10**30, "1m30s", "0.0001ms", "nan"])
TEXT = st.sampled_from(["ok", "", "a\x00b", "${HOME}", "${UNSET_X:-d}", "$$", "x" * 5000, "é€𝄞",
                        "line\nbreak", "${"])
PORTS = st.sampled_from([1, 0, 65535, 65536, -1, "1", "x", 10**20])
HOSTS = st.sampled_from(["127.0.0.1", "::1", "", "exa mple", "256.1.1.1", "a" * 300,
                         "localhost\x00", "[::1]", "127.0.0.1:80", "-x"])
URLS = st.sampled_from([
    "http://127.0.0.1:1/", "http://[::1]:1/x", "http://", "http://exa mple/", "http://127.0.0.1:0/",
    "ftp://127.0.0.1/", "http://user:p/ss@127.0.0.1:1/", "http://127.0.0.1:99999/",
    "http://" + "a" * 300 + "/", "http://127.0.0.1:1/\x00", "https://127.0.0.1:1/", "127.0.0.1:1",
    "http://[::1/", "http://127.0.0.1:1/" + "%" * 3, "http://u:pw#x@127.0.0.1:1/",
])


def targets() -> st.SearchStrategy[dict[str, object]]:
    return st.one_of(
        st.fixed_dictionaries({"process": st.sampled_from([NOBODY, "", "x" * 300, "a\x00b"])}),
        st.fixed_dictionaries({"cmdline": st.sampled_from([NOBODY + "-cmd", "(", "a" * 2000, "x\x00"])}),
        st.fixed_dictionaries({"pid": st.sampled_from([4194303, 0, -1, 10**30, "12x"])}),
        st.fixed_dictionaries({"pidfile": st.sampled_from(["{dir}/none.pid", "", "{dir}", "a\x00"])}),
    )


def action(directory: str) -> st.SearchStrategy[dict[str, object]]:
    path = st.sampled_from([f"{directory}/out", f"{directory}/sub/out", f"{directory}/a\x00b", "",
                            directory, f"{directory}/" + "n" * 300])
    return st.one_of(
        st.fixed_dictionaries({"exec": st.lists(st.sampled_from(["true", "false", "/nonexistent", "a\x00b",
                                                                  "sleep", "0.05", ""]), max_size=3)}),
        st.fixed_dictionaries({"exec": st.fixed_dictionaries(
            {"command": st.just(["true"])},
            optional={"env": st.dictionaries(st.sampled_from(["A", "A=B", "", "B\x00", "C"]), TEXT, max_size=2),
                      "cwd": st.sampled_from(["/", "/nonexistent", "", "a\x00"]),
                      "ok_exit_codes": st.lists(st.integers(-300, 300), max_size=2)})}),
        st.fixed_dictionaries({"shell": TEXT}),
        st.fixed_dictionaries({"sleep": DURATIONS}),
        st.fixed_dictionaries({"http": st.fixed_dictionaries(
            {"url": URLS}, optional={"method": st.sampled_from(["GET", "POST", "BREW", "", "G E T"]),
                                     "headers": st.dictionaries(st.sampled_from(["X-A", "", "a b", "X\x00"]),
                                                                TEXT, max_size=2),
                                     "body": TEXT, "expect_status": st.sampled_from([200, 0, 999, [200, 204]]),
                                     "ca_file": st.sampled_from(["/nonexistent", directory])})}),
        st.fixed_dictionaries({"tcp": st.fixed_dictionaries({"port": PORTS}, optional={"host": HOSTS})}),
        st.fixed_dictionaries({"signal": targets().map(lambda t: {**t, "missing_ok": True})}),
        st.fixed_dictionaries({"wait_exit": targets()}),
        st.fixed_dictionaries({"drain": st.fixed_dictionaries({"port": PORTS},
                                                              optional={"settle": DURATIONS})}),
        st.fixed_dictionaries({"write": st.fixed_dictionaries(
            {"path": path, "text": TEXT}, optional={"append": st.booleans(),
                                                     "mode": st.sampled_from(["0644", "0999", "rwx", 420])})}),
        st.fixed_dictionaries({"wait_file": st.fixed_dictionaries({"path": path})}),
    )


def step(directory: str) -> st.SearchStrategy[dict[str, object]]:
    return st.tuples(action(directory), st.fixed_dictionaries({}, optional={
        "timeout": DURATIONS, "attempt_timeout": DURATIONS,
        "retries": st.sampled_from([0, 1, 1025, 10000, -1]),
        "retry_delay": st.sampled_from(["1ms", "0s", "720h"]),
        "backoff": st.sampled_from(["fixed", "exponential"]),
        "max_retry_delay": DURATIONS, "reserve": DURATIONS,
        "on_failure": st.sampled_from(["abort", "continue", "ignore"]),
    })).map(lambda pair: {**pair[0], **pair[1]})


def fill(value: object, directory: str) -> object:
    if isinstance(value, str):
        return value.replace("{dir}", directory)
    if isinstance(value, list):
        return [fill(v, directory) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, directory) for k, v in value.items()}
    return value


def toml(document: dict[str, object]) -> str:
    """TOML for a nested document of tables, arrays of tables and JSON-compatible values."""
    lines = []
    for name, table in document.items():
        assert isinstance(table, dict)
        lines.append(f"[{name}]")
        for key, value in table.items():
            if key != "steps":
                lines.append(f"{key} = {_value(value)}")
        for entry in table.get("steps", []):
            lines.append(f"[[{name}.steps]]")
            lines += [f"{key} = {_value(value)}" for key, value in entry.items()]
    return "\n".join(lines) + "\n"


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if not isinstance(value, float) or value == value else '"nan"'
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{ " + ", ".join(f"{json.dumps(k)} = {_value(v)}" for k, v in value.items()) + " }"


def check(run_code: int, out: str, what: str) -> None:
    assert run_code in ALLOWED, f"{what}: exit {run_code}\n{out}"
    assert "Traceback" not in out and "internal error" not in out, f"{what}\n{out}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_generated_configs_never_crash_or_hang(tmp_path: Path, data: st.DataObject) -> None:
    directory = str(tmp_path / uuid.uuid4().hex[:8])
    os.makedirs(directory)
    steps = data.draw(st.lists(step(directory), min_size=1, max_size=3))
    names = [{"name": f"s{i}", **fill(s, directory)} for i, s in enumerate(steps)]  # type: ignore[dict-item]
    grace = data.draw(st.sampled_from(["3s", "720h", "99999999999999999999", "1s"]))
    hook = data.draw(st.sampled_from(["run", "prestop", "poststart"]))
    timeout = data.draw(st.sampled_from(["1s", "720h", "3000000h", None]))
    table: dict[str, object] = {"steps": names} if timeout is None else {"timeout": timeout, "steps": names}
    document = {"settings": {"grace_period": grace, "shutdown_reserve": "0s", "state_dir": f"{directory}/state"},
                hook: table}
    config = tmp_path / "fuzz.toml"
    config.write_text(toml(document))
    env = {"HOOKRUN_STATE_DIR": f"{directory}/state", "HOOKRUN_LOG_TARGET": "stderr",
           "HOOKRUN_GRACE_PERIOD": data.draw(st.sampled_from(["2s", "99999999999999999999", "-1", "x"]))}
    for args in (["validate"], ["plan", hook], ["plan", hook, "--format", "json"]):
        result = hookrun("--config", str(config), *args, env=env, timeout=30, merged=True)
        check(result.code, result.out, " ".join(args))
    valid = hookrun("--config", str(config), "validate", env=env, timeout=30, merged=True)
    if valid.code == 2:
        assert "invalid config" in valid.out, valid.out
        return
    code, out, seconds = run_bounded(["--config", str(config), "run", hook], env)
    assert code in ALLOWED | {143}, f"run: exit {code}\n{out}"
    assert "Traceback" not in out and "internal error" not in out, out
    assert seconds < 3.0 + 2.0, out  # stopped at 3 s at the latest: out within 2 s
    assert code != 2 or "invalid config" in out, out


def run_bounded(args: list[str], env: dict[str, str], limit: float = 3.0) -> tuple[int, str, float]:
    """Run hookrun; a run still going after `limit` seconds gets SIGTERM (its exit is then 143)."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen([*hookrun_argv(), *args], env={**os.environ, **env}, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            code = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            proc.terminate()
            code = proc.wait(timeout=10)
        seconds = time.monotonic() - started
        out.seek(0)
        return code, out.read(), seconds
