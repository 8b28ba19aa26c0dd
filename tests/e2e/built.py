"""Where the built binaries are (dist/, or $HOOKRUN_DIST), and where the test image has them."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIST = Path(os.environ.get("HOOKRUN_DIST", ROOT / "dist"))
BINARIES = ("hookrun", "hookrun-dir/hookrun", "hookrun-static")


def on_host(dist: Path) -> dict[str, Path]:
    """Each variant's executable in a dist directory."""
    return {"one-file": dist / "hookrun", "one-dir": dist / "hookrun-dir" / "hookrun",
            "static": dist / "hookrun-static"}


ON_HOST = on_host(DIST)
# the arm64 build (`make binary ARCH=arm64`), run here by qemu-user; tests/app: the shell-less
# image's static app, built for aarch64 next to it
ARM64 = DIST / "arm64"
ARM64_ON_HOST = on_host(ARM64)
ARM64_APP = ARM64 / "tests" / "app"
# the arm64 C libraries the one-file and one-dir builds load from the system, for qemu-user
ARM64_ENV = {"QEMU_LD_PREFIX": str(ARM64 / "tests" / "sysroot")}
# where rootfs.nginx_rootfs() installs each variant
IN_IMAGE = {"one-file": "/usr/local/bin/hookrun", "one-dir": "/usr/local/bin/hookrun-dir",
            "static": "/usr/local/bin/hookrun-static"}
