"""No writable state directory (a read-only root, emulated in a mount namespace):
`once` steps fail clearly, the other steps still run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import write_config
from support.cli import HOOKRUN, hook_env

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                                reason="needs root and unshare(1) for a mount namespace")

READ_ONLY = """set -e
for d in /run /tmp /dev/shm "$RO"; do mount --bind "$d" "$d"; mount -o remount,bind,ro "$d"; done
mount --bind "$OUT" "$OUT"; mount -o remount,bind,rw "$OUT"
"$@" run setup && exit 99
echo "exit $?"
exec "$@" markers
"""


def test_once_steps_fail_clearly_and_others_run(tmp_path: Path) -> None:
    ro, out = tmp_path / "ro", tmp_path / "out"
    ro.mkdir()
    out.mkdir()
    write_config(tmp_path, f"""
[settings]
state_dir = "{ro / 'state'}"
[setup]
on_failure = "continue"
[[setup.steps]]
name = "once-step"
once = true
exec = ["touch", "{out / 'once'}"]
[[setup.steps]]
name = "plain"
exec = ["touch", "{out / 'plain'}"]
""")
    env = hook_env(tmp_path, TMPDIR=str(tmp_path / "ro"), RO=str(ro), OUT=str(out))
    del env["HOOKRUN_STATE_DIR"]
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY,
                           "sh", *HOOKRUN],
                          env=env, text=True, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    hook_exit, markers = done.stdout.splitlines()
    assert hook_exit == "exit 1"
    assert markers.startswith("hookrun: no markers: no writable state directory (")
    err = done.stderr
    assert "once-step: failed: once: nowhere to keep the marker: no writable state directory (" in err
    for path in (ro / "state", "/run/hookrun", ro / "hookrun", "/tmp/hookrun", "/dev/shm/hookrun"):
        assert f"{path}: read-only file system" in err
    assert "point settings.state_dir or HOOKRUN_STATE_DIR at it" in err
    assert "running without the setup lock" in err
    assert "plain: ok:" in err
    assert sorted(p.name for p in out.iterdir()) == ["plain"]
    assert list(ro.iterdir()) == []
