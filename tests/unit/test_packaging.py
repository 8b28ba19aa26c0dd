"""Start-up imports, and Dockerfile.example kept consistent with the configs it bakes in."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hookrun.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile.example"
NOOP = '[settings]\ngrace_period = "30s"\n[prestop]\n[[prestop.steps]]\nname = "noop"\nsleep = "0s"\n'
HEAVY = {"httpx", "httpcore", "h11", "ssl", "anyio", "asyncio", "psutil"}
# what a hook that needs none of it must not pay for at start (README, "Performance")
SLOW = {"argparse", "dataclasses", "inspect", "difflib", "pathlib", "shutil", "subprocess", "json", "selectors",
        "ctypes"}


def imported(argv: list[str]) -> set[str]:
    """The top-level modules `hookrun ARGV` imports from source (-S: not site's own)."""
    result = subprocess.run([sys.executable, "-S", "-X", "importtime", "-c",
                             f"import sys; sys.path.insert(0, {str(ROOT)!r}); from hookrun.cli import main; "
                             f"sys.exit(main({argv!r}))"],
                            capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in result.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


@pytest.mark.parametrize("argv", [["version"], ["prestop"]], ids=["version", "no-op hook"])
def test_start_up_does_not_import_heavy_modules(argv: list[str], tmp_path: Path) -> None:
    config = tmp_path / "hookrun.toml"
    config.write_text(NOOP)
    modules = imported(["--config", str(config), "--log-target", "stderr", *argv])
    assert "hookrun" in modules  # the measurement works
    assert modules & HEAVY == set()
    if argv == ["prestop"]:
        assert modules & SLOW == set()


def stages() -> dict[str, str]:
    """Dockerfile.example's text per build stage (FROM ... AS name)."""
    parts = re.split(r"^FROM \S+ AS (\S+)\n", DOCKERFILE.read_text(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def stage_config(stage: str) -> str:
    text = stages()[stage]
    heredoc = re.search(r"^COPY <<'EOF' /etc/hookrun/hookrun.toml\n(.*?)^EOF$", text, re.M | re.S)
    if heredoc:
        return heredoc.group(1)
    copied = re.search(r"^COPY (config/\S+) /etc/hookrun/hookrun.toml$", text, re.M)
    assert copied, f"stage {stage} installs no config"
    return (ROOT / copied.group(1)).read_text()


def pod_spec(name: str) -> str:
    """The commented pod-spec block whose container is `name`."""
    lines = [line[2:] for line in DOCKERFILE.read_text().splitlines() if line.startswith("#   ")]
    blocks = "\n".join(lines).split("spec:")
    return next(block for block in blocks if f"- name: {name}\n" in block)


@pytest.mark.parametrize("stage", ["nginx", "shellless"])
def test_baked_config_validates(stage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "hookrun.toml"
    config.write_text(stage_config(stage))
    assert main(["--config", str(config), "validate"]) == 0, capsys.readouterr().err
    assert 'RUN ["' in stages()[stage] and '"validate"]' in stages()[stage]


@pytest.mark.parametrize(("stage", "container"), [("nginx", "nginx"), ("shellless", "app")])
def test_pod_spec_matches_the_image(stage: str, container: str) -> None:
    text, spec = stages()[stage], pod_spec(container)
    grace = re.search(r'^grace_period = "(\d+)s"', stage_config(stage), re.M)
    assert grace is not None
    assert f"terminationGracePeriodSeconds: {grace.group(1)}\n" in spec
    assert f'value: "{grace.group(1)}s"' in spec  # HOOKRUN_GRACE_PERIOD
    for hook in ("poststart", "prestop"):
        command = re.search(rf'command: \["(\S+)", "{hook}"\]', spec)
        assert command is not None, f"no {hook} command in the {container} pod spec"
        binary = command.group(1)
        path = binary if binary.startswith("/") else f"/usr/local/bin/{binary}"  # on PATH
        assert f" {path}\n" in text, f"the {stage} image has no {path}"


def test_files_the_dockerfile_copies_exist() -> None:
    sources = re.findall(r"^(?:COPY|RUN .*?) ((?:config|build|tests)/\S+)", DOCKERFILE.read_text(), re.M)
    assert sorted(sources) == ["build/build.sh", "config/nginx.toml", "config/static-app.toml",
                               "tests/e2e/src/app.c"]
    for source in sources:
        assert (ROOT / source).is_file(), source
