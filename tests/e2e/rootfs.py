"""Minimal root filesystems, assembled from this machine's own files, for the container tests.

nginx image: glibc, nginx and the shared libraries `ldd` lists, /bin/sh, a dynamically linked probe
tool whose library is found only through the image's LD_LIBRARY_PATH, and the three hookrun
builds. Shell-less image: the static hookrun, a static test program as the app, a config;
no shell and no libc at all.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

HERE = Path(__file__).parent
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"
NGINX_CONF = """\
worker_processes 1;
pid /run/nginx.pid;
error_log stderr notice;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path /run/nginx-body;
    proxy_temp_path /run/nginx-proxy;
    fastcgi_temp_path /run/nginx-fastcgi;
    uwsgi_temp_path /run/nginx-uwsgi;
    scgi_temp_path /run/nginx-scgi;
    server {
        listen 127.0.0.1:8080;
        location / { return 200 "ok\\n"; }
        location /deregister { return 204; }
    }
}
"""
NGINX_ARGS = ("/usr/sbin/nginx", "-g", "daemon off;")
APP_ARGS = ("/app", "serve", "/run/app.pid")
PROBE_LIB_DIR = "/opt/probe/lib"  # the image's LD_LIBRARY_PATH in the tests that need it


def _copy(src: Path, root: Path, dest: str | None = None) -> None:
    target = root / (dest or str(src)).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, target, follow_symlinks=True)


def _libraries(binary: Path) -> list[Path]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True,
                         timeout=30).stdout
    found = re.findall(r"(?:=>\s*)?(/\S+)\s+\(0x", out)
    return [Path(path) for path in found]


def _with_libraries(binary: Path, root: Path, dest: str | None = None) -> None:
    _copy(binary, root, dest)
    for library in _libraries(binary):
        _copy(library, root)


def _glibc(root: Path) -> None:
    """The C library of a glibc image (Debian's libc6): libc, libm, libpthread, the loader..."""
    listed = subprocess.run(["dpkg", "-L", "libc6"], capture_output=True, text=True, check=True,
                            timeout=30).stdout.split()
    for path in listed:
        if re.fullmatch(r"/(usr/)?lib(64)?/(x86_64-linux-gnu/)?[^/]+\.so\.\d+", path):
            _copy(Path(path), root)


def _skeleton(root: Path, configs: Mapping[str, str]) -> None:
    root.chmod(0o755)  # temporary directories are private; an image's root is not
    for directory in ("proc", "dev", "sys", "run", "tmp", "etc/hookrun"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    for name, text in configs.items():
        (root / "etc/hookrun" / name).write_text(text)


def compile_tools(out: Path) -> dict[str, Path]:
    """The static app (musl) and the dynamically linked probe with its library."""
    out.mkdir(parents=True, exist_ok=True)
    src = HERE / "src"
    tools = {"app": out / "app", "probe": out / "probe", "libprobe": out / "libprobe.so.1"}
    commands = [
        ["musl-gcc", "-static", "-Os", "-o", str(tools["app"]), str(src / "app.c")],
        ["gcc", "-shared", "-fPIC", "-Wl,-soname,libprobe.so.1", "-o", str(tools["libprobe"]),
         str(src / "libprobe.c")],
        ["gcc", "-o", str(tools["probe"]), str(src / "probe.c"), f"-L{out}", "-l:libprobe.so.1"],
    ]
    for command in commands:
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    return tools


def nginx_rootfs(root: Path, dist: Path, tools: Mapping[str, Path], configs: Mapping[str, str]) -> Path:
    _skeleton(root, configs)
    _glibc(root)
    _with_libraries(Path("/usr/sbin/nginx"), root)
    _with_libraries(Path("/bin/dash"), root, "/bin/sh")
    (root / "etc/nginx").mkdir(parents=True, exist_ok=True)
    (root / "etc/nginx/nginx.conf").write_text(NGINX_CONF)
    _copy(tools["probe"], root, "/opt/probe/bin/probe")  # libc: already there for nginx
    _copy(tools["libprobe"], root, f"{PROBE_LIB_DIR}/libprobe.so.1")
    bin_dir = root / "usr/local/bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(dist / "hookrun", bin_dir / "hookrun")
    shutil.copy2(dist / "hookrun-static", bin_dir / "hookrun-static")
    shutil.copytree(dist / "hookrun-dir", root / "opt/hookrun", symlinks=True)
    (bin_dir / "hookrun-dir").symlink_to("/opt/hookrun/hookrun")
    return root


def static_rootfs(root: Path, dist: Path, tools: Mapping[str, Path], configs: Mapping[str, str]) -> Path:
    _skeleton(root, configs)
    shutil.copy2(dist / "hookrun-static", root / "hookrun")
    shutil.copy2(tools["app"], root / "app")
    return root
