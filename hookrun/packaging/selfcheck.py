"""`hookrun version --check`: proves that what hookrun imports only when a step needs it works.

A frozen build only contains the modules its analysis found; a missing one surfaces at pod
termination. These checks import every hookrun module and use each optional dependency for
real: TOML parsing, psutil on this process, and one attempt of the http step (httpx with its
TLS context and CA bundle) against a one-shot server on 127.0.0.1.
"""

from __future__ import annotations

import importlib
import pkgutil
import socket
import sys
import threading
from collections.abc import Callable

from hookrun.errors import Problem
from hookrun.record import record


@record
class Check:
    """One result of the self-check."""

    name: str
    ok: bool
    detail: str


def hookrun_modules() -> tuple[str, ...]:
    """The modules of this build (recorded at build time), or of the source tree."""
    try:
        from hookrun import _build  # type: ignore[attr-defined]  # written by build/
    except ImportError:
        import hookrun

        return tuple(sorted(
            info.name for info in pkgutil.walk_packages(hookrun.__path__, "hookrun.")
            if not info.name.endswith(("__main__", "._build"))
        ))
    return tuple(_build.MODULES)


def check_modules() -> str:
    names = hookrun_modules()
    for name in names:
        importlib.import_module(name)
    return f"{len(names)} hookrun modules import"


def check_toml() -> str:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

    value = tomllib.loads('a = { b = "1s" }\n')
    if value != {"a": {"b": "1s"}}:
        raise AssertionError(f"unexpected parse result {value!r}")
    return f"{tomllib.__name__} parses"


def check_psutil() -> str:
    import psutil

    me = psutil.Process()
    rss = me.memory_info().rss
    return f"psutil {psutil.__version__}: this process, {rss >> 20} MiB resident"


def check_http() -> str:
    """The real http step, twice: a 503 with an HTTP-date Retry-After (retried, the date
    parsed), then a 204. Exercises httpx, its TLS context with the CA bundle, a json body."""
    import httpx

    from hookrun.config.schema import Where
    from hookrun.steps import AttemptContext, registry
    from hookrun.system.clock import MonotonicClock

    kind = registry()["http"]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(2)
        server.settimeout(5.0)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/selfcheck"
        thread = threading.Thread(target=_answer, args=(server, _ANSWERS), daemon=True)
        thread.start()
        problems: list[Problem] = []
        spec = kind.parse({"url": url, "method": "POST", "json": {"check": 1}},
                          Where("selfcheck", "http", problems))
        if spec is None:
            raise AssertionError("; ".join(problem.message for problem in problems))
        clock = MonotonicClock()
        started = clock.now()
        outcomes = [kind.attempt(spec, AttemptContext("selfcheck", "http", started + 5.0, clock, {},
                                                      lambda line: None)) for _ in _ANSWERS]
        thread.join(5.0)
    statuses = [(outcome.status, outcome.retry_after) for outcome in outcomes]
    if statuses != [("retry", 0.0), ("ok", None)]:
        raise AssertionError(f"expected a retry after 0s, then ok; got {outcomes}")
    return (f"httpx {httpx.__version__}: http step, 503 with Retry-After then "
            f"{outcomes[-1].detail} in {(clock.now() - started) * 1000:.0f} ms")


_ANSWERS = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
    b"Content-Length: 0\r\nConnection: close\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
)


def _answer(server: socket.socket, answers: tuple[bytes, ...]) -> None:
    """Answer one request per connection, with each of `answers` in turn."""
    for answer in answers:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5.0)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                request += chunk
            conn.sendall(answer)


PR_GET_PDEATHSIG = 2


def check_libc() -> str:
    """prctl through ctypes (the command supervisor's); in a build that unpacks itself, the
    launcher's request for a SIGTERM at its death (build/launcher-patches.py)."""
    import ctypes
    import signal

    from hookrun.packaging.frozen import launcher_dir
    from hookrun.system.control import libc_prctl

    prctl = libc_prctl()
    if prctl is None:
        raise AssertionError("ctypes cannot reach libc's prctl")
    if launcher_dir() is None:
        return "ctypes reaches libc (prctl)"
    asked = ctypes.c_int(0)
    if prctl(PR_GET_PDEATHSIG, ctypes.byref(asked), 0, 0, 0) != 0 or asked.value != signal.SIGTERM:
        raise AssertionError(f"the launcher's death sends signal {asked.value}, not SIGTERM: "
                             "a launcher built without build/launcher-patches.py")
    return "ctypes reaches libc (prctl); the launcher's death sends SIGTERM"


CHECKS: tuple[tuple[str, Callable[[], str]], ...] = (
    ("modules", check_modules),
    ("libc", check_libc),
    ("toml", check_toml),
    ("psutil", check_psutil),
    ("http", check_http),
)


def run() -> list[Check]:
    results = []
    for name, check in CHECKS:
        try:
            results.append(Check(name, True, check()))
        except Exception as err:  # every failure is a finding to report, not a crash
            results.append(Check(name, False, f"{type(err).__name__}: {err}"))
    return results
