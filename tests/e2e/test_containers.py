"""The built binaries inside real containers, hooks started as the kubelet does (exec)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from built import IN_IMAGE
from containers import NOBODY, PATH_ENV, Engine, Result, Running, Start, hook_events, outputs
from rootfs import APP_ARGS, NGINX_ARGS, PROBE_LIB_DIR

pytest_plugins = ["e2e_fixtures"]
VARIANTS = tuple(IN_IMAGE)


def prestop(engine: Engine, running: Running, variant: str, config: str) -> Result:
    return engine.exec(running, [IN_IMAGE[variant], "--config", f"/etc/hookrun/{config}", "prestop"])


def summary(running: Running) -> dict[str, object]:
    events = [e for e in hook_events(running.logs()) if e["event"] == "summary"]
    assert len(events) == 1, f"expected one summary in the container's stdout:\n{running.logs()}"
    return events[0]


def leftovers(running: Running, path: str) -> list[str]:
    """What is left in a directory of the container (seen through its PID 1's root)."""
    return sorted(os.listdir(f"/proc/{running.pid}/root{path}"))


@pytest.mark.parametrize("variant", VARIANTS)
def test_read_only_root_with_writable_tmpdir(variant: str, start: Start, engine: Engine,
                                             nginx_root: Path) -> None:
    nginx = start(nginx_root, NGINX_ARGS, tmpfs=("/run", "/hookrun-tmp"),
                  env=(PATH_ENV, "TMPDIR=/hookrun-tmp"))
    result = prestop(engine, nginx, variant, "hello.toml")
    assert result.code == 0, result
    assert summary(nginx)["level"] == "info"
    assert outputs(nginx) == ["hello from the image: uid=0 TMPDIR=/hookrun-tmp"]
    assert leftovers(nginx, "/hookrun-tmp") == []  # the one-file bundle cleans up after itself


@pytest.mark.parametrize("variant", VARIANTS)
def test_read_only_root_without_writable_tmp(variant: str, start: Start, engine: Engine,
                                             nginx_root: Path) -> None:
    nginx = start(nginx_root, NGINX_ARGS, tmpfs=("/run",))
    result = prestop(engine, nginx, variant, "hello.toml")
    if variant == "one-dir":  # nothing to unpack: the variant for read-only roots
        assert result.code == 0, result
        assert outputs(nginx) == ["hello from the image: uid=0 TMPDIR=unset"]
        return
    # the one-file and static launchers must unpack to TMPDIR or /tmp: a clear failure
    assert result.code != 0
    expected = {"one-file": "Could not create temporary directory",
                "static": "Failed to create temporary directory in /tmp: Read-only file system"}
    assert expected[variant] in result.stderr, result
    assert hook_events(nginx.logs()) == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_non_root_user(variant: str, start: Start, engine: Engine, nginx_root: Path) -> None:
    nginx = start(nginx_root, NGINX_ARGS, user=NOBODY, tmpfs=("/run", "/tmp"))
    result = prestop(engine, nginx, variant, "hello.toml")
    assert result.code == 0, result
    assert outputs(nginx) == ["hello from the image: uid=65534 TMPDIR=unset"]
    assert summary(nginx)["hook"] == "prestop"
    assert "hello from the image" not in result.stdout + result.stderr  # went to PID 1's stdout


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("library_path", [PROBE_LIB_DIR, None])
def test_children_get_the_images_library_path(variant: str, library_path: str | None, start: Start,
                                              engine: Engine, nginx_root: Path) -> None:
    env = (PATH_ENV, "TMPDIR=/run") + ((f"LD_LIBRARY_PATH={library_path}",) if library_path else ())
    nginx = start(nginx_root, NGINX_ARGS, env=env)
    result = prestop(engine, nginx, variant, "libpath.toml")
    assert result.code == 0, result
    lines = outputs(nginx)
    assert lines[0] == (f"sh sees LD_LIBRARY_PATH={library_path or '(unset)'}, "
                        "bundle variables: none"), lines
    if library_path:  # a dynamically linked tool of the image finds its library
        assert lines[1:] == [f"probe: libprobe loaded, LD_LIBRARY_PATH={library_path}"]
    else:
        assert "libprobe.so.1: cannot open shared object file" in lines[1]


@pytest.mark.parametrize("variant", VARIANTS)
def test_nginx_prestop_quits_nginx(variant: str, start: Start, engine: Engine,
                                   nginx_root: Path) -> None:
    nginx = start(nginx_root, NGINX_ARGS, tmpfs=("/run", "/tmp"),
                  env=(PATH_ENV, "HOOKRUN_GRACE_PERIOD=30s"))  # as `hookrun manifest` sets it
    result = prestop(engine, nginx, variant, "nginx-exec.toml")
    assert engine.wait_exit(nginx, 10.0), "nginx is still running after its prestop hook"
    logs = nginx.logs()
    assert "gracefully shutting down" in logs and "exit" in logs
    started = [e["step"] for e in hook_events(logs) if e["event"] == "start"]
    assert started[:1] == ["quit"], logs
    # PID 1 exiting ends the container and every exec in it: the hook may die with it (KUBELET.md)
    assert result.seconds < 15, result


NGINX_ENV = (PATH_ENV, "TMPDIR=/tmp", "NGINX_PORT=8080", "NGINX_PIDFILE=/run/nginx.pid",
             "ENDPOINT_GRACE=200ms",
             "HOOKRUN_LOG_FORMAT=json")


@pytest.mark.parametrize("variant", VARIANTS)
def test_shipped_nginx_config(variant: str, start: Start, engine: Engine, nginx_root: Path) -> None:
    """config/nginx.toml as shipped: poststart waits for the port; prestop (no Kubernetes API in
    here: the traffic-based wait) QUITs the master (PID 1: everything is logged before the
    signal) and ends with the container."""
    nginx = start(nginx_root, NGINX_ARGS, tmpfs=("/run", "/tmp"), env=NGINX_ENV)
    hook = [IN_IMAGE[variant], "--config", "/etc/hookrun/nginx.toml"]
    poststart = engine.exec(nginx, [*hook, "poststart"])
    assert poststart.code == 0, poststart
    prestop = engine.exec(nginx, [*hook, "prestop"])
    assert engine.wait_exit(nginx, 10.0), "nginx is still running after its prestop hook"
    logs = nginx.logs()
    assert "gracefully shutting down" in logs, logs
    done = {e["step"]: e["message"] for e in hook_events(logs) if e["event"] == "ok"}
    assert {"wait-listening", "quiet-instead", "quit"} <= set(done), logs
    failed = {e["step"] for e in hook_events(logs) if e["event"] == "failed"}
    assert failed == {"endpoint-race"}, logs  # not in a pod: ignored, the fallback ran
    # one summary, the last prestop line, and true: nothing after it contradicts it
    events = [e for e in hook_events(logs) if e["hook"] == "prestop"]
    assert [e["event"] for e in events].count("summary") == 1, logs
    assert events[-1]["event"] == "summary" and "exit 0" in events[-1]["message"], logs
    # PID 1 exiting ends the container and every exec in it: wait-exit may die with it (KUBELET.md)
    assert prestop.code in (0, 137, 255), prestop
    assert 0.2 <= prestop.seconds < 15, prestop


def test_shell_less_image(start: Start, engine: Engine, static_root: Path) -> None:
    app = start(static_root, APP_ARGS, user=NOBODY, env=("TMPDIR=/run",))
    assert engine.exec(app, ["/hookrun", "validate"]).code == 0
    result = engine.exec(app, ["/hookrun", "poststart"])
    assert result.code == 0, result
    assert outputs(app) == ["poststart in an image without a shell"]
    result = engine.exec(app, ["/hookrun", "prestop"])
    assert engine.wait_exit(app, 10.0)
    assert "app: signal 15, exiting" in app.logs()
    assert result.seconds < 15, result
