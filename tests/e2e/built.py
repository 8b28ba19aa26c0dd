"""Where the built binaries are (dist/, or $HOOKRUN_DIST), and where the test image has them."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIST = Path(os.environ.get("HOOKRUN_DIST", ROOT / "dist"))
BINARIES = ("hookrun", "hookrun-dir/hookrun", "hookrun-static")
ON_HOST = {"one-file": DIST / "hookrun", "one-dir": DIST / "hookrun-dir" / "hookrun",
           "static": DIST / "hookrun-static"}
# where rootfs.nginx_rootfs() installs each variant
IN_IMAGE = {"one-file": "/usr/local/bin/hookrun", "one-dir": "/usr/local/bin/hookrun-dir",
            "static": "/usr/local/bin/hookrun-static"}
