"""Dockerfile.example's images, built with buildah and run by podman (runc).

The base images are local stand-ins (build/base-images.sh: debootstrap, no registry). The
`nginx`, `shellless` and `hookrun` targets are built from the binaries in dist/ (the build
stage replaced by a build context, which takes seconds); one test builds them from source
through the build stage, as a user of the Dockerfile would. Hooks are started the way the
kubelet does, with `podman exec`, and must show in `podman logs` (hookrun writes to PID 1's
stdout). Skipped where podman is not installed, unless HOOKRUN_REQUIRE_PODMAN is set (CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from containers import hook_events
from podman_engine import ROOT, Containers, build, files_of, must, run

from hookrun import __version__

pytest_plugins = ["e2e_fixtures"]
HOOK_ENV = ("--env", "HOOKRUN_LOG_FORMAT=json", "--env", "ENDPOINT_GRACE=200ms")
APP_ARGS = ("--tmpfs", "/run/app:rw,mode=1777")  # the emptyDir of the app's pid file


@pytest.fixture(scope="session")
def podman() -> None:
    missing = [tool for tool in ("podman", "buildah") if shutil.which(tool) is None]
    if missing:
        reason = f"{' and '.join(missing)} not installed (build/system-deps.sh installs them)"
        if os.environ.get("HOOKRUN_REQUIRE_PODMAN"):
            pytest.fail(f"{reason}; HOOKRUN_REQUIRE_PODMAN is set", pytrace=False)
        pytest.skip(reason)
    if os.geteuid() != 0:
        pytest.skip("the podman tests run podman as root")


@pytest.fixture(scope="session")
def bases(podman: None) -> list[str]:
    """The --build-arg options selecting the local base images (made when missing)."""
    done = subprocess.run(["bash", str(ROOT / "build" / "base-images.sh")], capture_output=True,
                          text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def base(bases: list[str], name: str) -> str:
    return next(option.split("=", 2)[2] for option in bases if option.split("=")[1] == name)


@pytest.fixture(scope="session")
def prebuilt(dist: Path, tools: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build context that stands in for the build stage: dist/ and the static test app."""
    context = tmp_path_factory.mktemp("prebuilt")
    subprocess.run(["bash", str(ROOT / "build" / "dist-context.sh"), str(context), str(tools["app"])],
                   check=True, timeout=60)
    return context


@pytest.fixture(scope="session")
def images(bases: list[str], prebuilt: Path) -> Iterator[dict[str, str]]:
    """nginx, shellless and hookrun, built from dist/; removed at the end of the session."""
    session = uuid.uuid4().hex[:8]
    built = {}
    for target in ("nginx", "shellless", "hookrun"):
        built[target] = f"localhost/hookrun-test/{target}:{session}"
        build(target, built[target], [*bases, "--build-context", f"build={prebuilt}"])
    yield built
    run("podman", "rmi", *built.values())


@pytest.fixture
def containers() -> Iterator[Containers]:
    box = Containers()
    yield box
    box.cleanup()


def events(logs: str, hook: str) -> dict[str, str]:
    """step -> event of the last event of each step of `hook` in a container's logs."""
    return {str(e["step"]): str(e["event"]) for e in hook_events(logs) if e["hook"] == hook and e["step"]}


# --- the images --------------------------------------------------------------------------------
@pytest.mark.slow
def test_images_build_from_source(bases: list[str]) -> None:
    """The whole Dockerfile as a user runs it: the build stage compiles PyInstaller's
    bootloader and builds every variant in a Debian 12 container (needs the package registries),
    then each target takes its binary from it."""
    described = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
                               capture_output=True, text=True, timeout=30, check=False)
    commit = described.stdout.strip() or "unknown"  # the same tree again: every layer is cached
    options = [*bases, "--network", "host", "--build-arg", f"HOOKRUN_COMMIT={commit}"]
    # the build stage gets a name too: `podman image prune` keeps its layers, the cache
    for target in ("build", "hookrun", "nginx", "shellless"):
        build(target, f"localhost/hookrun-test/source-{target}:latest", options)
    image = "localhost/hookrun-test/source-hookrun:latest"
    assert must("podman", "run", "--rm", image).startswith(f"hookrun {__version__} (static, {commit}, ")
    checked = run("podman", "run", "--rm", image, "version", "--check")
    assert checked.code == 0 and checked.out.count("\n  ok ") == 5, checked
    nginx = run("podman", "run", "--rm", "localhost/hookrun-test/source-nginx:latest", "hookrun", "version")
    assert nginx.out.startswith(f"hookrun {__version__} (one-dir, {commit}, "), nginx


def test_hookrun_image_holds_only_the_static_build(images: dict[str, str]) -> None:
    image = images["hookrun"]
    files = files_of(image)
    assert sorted(path for path, info in files.items() if not info.isdir()) == [
        "etc/ssl/certs/ca-certificates.crt", "usr/local/bin/hookrun"]
    assert files["tmp"].mode & 0o7777 == 0o1777
    assert must("podman", "image", "inspect", "--format", "{{.Config.User}}", image).strip() == "65532:65532"
    version = must("podman", "run", "--rm", image)  # the default command
    assert version.startswith(f"hookrun {__version__} (static, "), version
    checked = run("podman", "run", "--rm", image, "version", "--check")
    assert checked.code == 0, checked


def test_copy_from_the_hookrun_image(images: dict[str, str], bases: list[str], tmp_path: Path) -> None:
    """The second way in the README: COPY --from=the hookrun image into your own image."""
    (tmp_path / "Containerfile").write_text(
        f"FROM {base(bases, 'DEBIAN_IMAGE')} AS app\n"
        f"COPY --from={images['hookrun']} /usr/local/bin/hookrun /usr/local/bin/hookrun\n")
    tag = f"localhost/hookrun-test/copy-from:{uuid.uuid4().hex[:8]}"
    build("app", tag, [], context=tmp_path, dockerfile=tmp_path / "Containerfile")
    try:
        version = must("podman", "run", "--rm", tag, "hookrun", "version")
        assert version.startswith(f"hookrun {__version__} (static, "), version
    finally:
        run("podman", "rmi", tag)


# --- hooks in the application images ------------------------------------------------------------
def test_nginx_hooks_show_in_the_logs(images: dict[str, str], containers: Containers) -> None:
    """config/nginx.toml as baked in: poststart waits for port 80; prestop QUITs nginx, which
    ends the container gracefully."""
    nginx = containers.start(images["nginx"], options=HOOK_ENV, ready="start worker process")
    poststart = containers.exec(nginx, "hookrun", "poststart")
    assert poststart.code == 0, poststart
    assert "wait-listening" not in poststart.out + poststart.err  # logged to PID 1's stdout
    assert events(containers.logs(nginx), "poststart") == {"wait-listening": "ok"}
    prestop = containers.exec(nginx, "hookrun", "prestop")
    # PID 1 exiting ends the container and every exec in it: wait-exit may be killed with it
    assert prestop.code in (0, 137), prestop
    assert containers.wait_exit(nginx, 10.0) == 0
    logs = containers.logs(nginx)
    assert "gracefully shutting down" in logs, logs
    done = events(logs, "prestop")
    assert {done.get(step) for step in ("quiet-instead", "quit")} == {"ok"}, logs
    assert done.get("endpoint-race") == "failed", logs  # no Kubernetes API here: the fallback ran
    assert prestop.seconds < 15, prestop


def test_nginx_stop_is_graceful(images: dict[str, str], containers: Containers) -> None:
    """`podman stop` sends the image's STOPSIGNAL (SIGQUIT, as in the official image), not TERM."""
    nginx = containers.start(images["nginx"], ready="start worker process")
    assert containers.inspect(nginx, "{{.Config.StopSignal}}") in ("3", "SIGQUIT")
    stopped = run("podman", "stop", "--time", "10", nginx)
    assert stopped.code == 0 and stopped.seconds < 5, stopped
    assert containers.wait_exit(nginx, 5.0) == 0  # not 137: nothing was killed
    assert "signal 3 (SIGQUIT) received" in containers.logs(nginx)


def test_shell_less_image_hooks(images: dict[str, str], containers: Containers) -> None:
    """config/static-app.toml in distroless static, as its non-root user: no shell, no libc."""
    app = containers.start(images["shellless"], options=(*HOOK_ENV, *APP_ARGS), ready="app ready pid=")
    assert containers.exec(app, "/bin/sh", "-c", "true").code != 0  # really no shell
    poststart = containers.exec(app, "hookrun", "poststart")
    assert poststart.code == 0, poststart
    assert events(containers.logs(app), "poststart") == {"wait-pidfile": "ok"}
    prestop = containers.exec(app, "hookrun", "prestop")
    assert prestop.code in (0, 137), prestop
    assert containers.wait_exit(app, 10.0) == 0
    logs = containers.logs(app)
    assert "app: signal 15, exiting" in logs, logs
    assert events(logs, "prestop").get("stop") == "ok", logs


def test_shell_less_stop_is_graceful(images: dict[str, str], containers: Containers) -> None:
    app = containers.start(images["shellless"], options=APP_ARGS, ready="app ready pid=")
    stopped = run("podman", "stop", "--time", "10", app)
    assert stopped.code == 0 and stopped.seconds < 5, stopped
    assert containers.wait_exit(app, 5.0) == 0
    assert "app: signal 15, exiting" in containers.logs(app)


# --- the injection pattern: an initContainer puts hookrun into an emptyDir ---------------------
def test_init_container_installs_hookrun(images: dict[str, str], bases: list[str], tools: dict[str, Path],
                                         containers: Containers, tmp_path: Path) -> None:
    """The third way in the README, for images you do not build: the app image has no hookrun
    (and no shell); an init container from the hookrun image runs `hookrun install` into a
    shared volume (an emptyDir), the config comes from a mounted directory (a ConfigMap), and
    the hooks run the installed binary."""
    shutil.copy2(tools["app"], tmp_path / "app")
    (tmp_path / "Containerfile").write_text(
        f"FROM {base(bases, 'STATIC_IMAGE')} AS app\nCOPY app /app\n"
        'ENTRYPOINT ["/app", "serve", "/run/app/app.pid"]\n')
    app_image = f"localhost/hookrun-test/plain-app:{uuid.uuid4().hex[:8]}"
    build("app", app_image, [], context=tmp_path, dockerfile=tmp_path / "Containerfile")
    try:
        assert not any("hookrun" in path for path in files_of(app_image))
        configmap = tmp_path / "configmap"  # laid out as the kubelet mounts a ConfigMap volume
        (configmap / "..2026_11_30_00_00_00.1").mkdir(parents=True)
        shutil.copy2(ROOT / "config" / "static-app.toml", configmap / "..2026_11_30_00_00_00.1" / "hookrun.toml")
        (configmap / "..data").symlink_to("..2026_11_30_00_00_00.1")
        (configmap / "hookrun.toml").symlink_to("..data/hookrun.toml")
        volume = containers.volume()
        installed = run("podman", "run", "--rm", "--volume", f"{volume}:/hookrun-bin", images["hookrun"],
                        "install", "/hookrun-bin")
        assert installed.code == 0, installed
        assert "/hookrun-bin/hookrun" in installed.out, installed
        app = containers.start(app_image, ready="app ready pid=", options=(
            *HOOK_ENV, *APP_ARGS, "--volume", f"{volume}:/hookrun-bin:ro",
            "--volume", f"{configmap}:/etc/hookrun:ro"))
        poststart = containers.exec(app, "/hookrun-bin/hookrun", "poststart")
        assert poststart.code == 0, poststart
        assert events(containers.logs(app), "poststart") == {"wait-pidfile": "ok"}
        prestop = containers.exec(app, "/hookrun-bin/hookrun", "prestop")
        assert prestop.code in (0, 137), prestop
        assert containers.wait_exit(app, 10.0) == 0
        assert "app: signal 15, exiting" in containers.logs(app)
    finally:
        run("podman", "rmi", app_image)
