"""The built binaries on this machine: what they say about themselves, and the budget clock."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import ON_HOST

from hookrun import __version__

VARIANTS = tuple(ON_HOST)


def run(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", **env})


@pytest.mark.parametrize("variant", VARIANTS)
def test_version_names_the_variant(variant: str, dist: Path) -> None:
    result = run([str(ON_HOST[variant]), "version"])
    assert result.returncode == 0, result
    assert result.stdout.startswith(f"hookrun {__version__} ({variant}, "), result.stdout


@pytest.mark.parametrize("variant", VARIANTS)
def test_self_check_passes_in_the_frozen_build(variant: str, dist: Path) -> None:
    result = run([str(ON_HOST[variant]), "version", "--check"])
    assert result.returncode == 0, result
    checks = [line.split()[:2] for line in result.stdout.splitlines()[1:]]
    assert checks == [["ok", "modules:"], ["ok", "toml:"], ["ok", "psutil:"], ["ok", "http:"]]


BUDGET_CONFIG = """\
[settings]
grace_period = "30s"
shutdown_reserve = "0s"
[prestop]
[[prestop.steps]]
name = "budget"
exec = ["/bin/sh", "-c", "echo deadline=$HOOKRUN_DEADLINE"]
"""


@pytest.mark.parametrize("variant", VARIANTS)
def test_budget_counts_from_the_first_process(variant: str, dist: Path, tmp_path: Path) -> None:
    """The OS start time of the process a shell `exec`s into is the shell's own: the 0.6 s the
    shell sleeps are counted only if the clock starts at the launcher (one-file bootloader,
    staticx) and not at the Python process it starts after unpacking."""
    config = tmp_path / "hookrun.toml"
    config.write_text(BUDGET_CONFIG)
    result = run(["/bin/sh", "-c", f'sleep 0.6; exec "{ON_HOST[variant]}" --config {config} '
                  "--log-target stderr prestop"], TMPDIR=str(tmp_path))
    assert result.returncode == 0, result
    left = float(result.stderr.rsplit("deadline=", 1)[1].split()[0])
    used = 30.0 - left
    assert 0.6 <= used <= 0.6 + 4.0, result.stderr
