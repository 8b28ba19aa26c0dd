"""The application of bench/termination.py's pods, for the Python app servers (gunicorn: `app:wsgi`,
uvicorn: `app:asgi`): the same answers as the lab's nginx pods.

    GET /fast.txt     200, "ok\\n"
    GET /slow/N.bin   200, 10 KiB sent in 10 pieces over N/10 s (N = 1..5): a request in flight
    anything else     404
Every answer carries `X-Pod: $POD_NAME`, so the load generator knows which pod answered. No
dependency beyond the standard library: the server under test is the only moving part.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

POD = os.environ.get("POD_NAME", "?")
PIECES, PIECE = 10, b"x" * 1024
SLOW = re.compile(r"/slow/([1-5])\.bin")


def route(path: str) -> tuple[str, float | None]:
    """(status, seconds between pieces) for a path; None: a short answer."""
    if path == "/fast.txt":
        return "200 OK", None
    found = SLOW.fullmatch(path)
    if found:
        return "200 OK", int(found.group(1)) / 10 / PIECES
    return "404 Not Found", None


def headers(length: int) -> list[tuple[str, str]]:
    return [("Content-Type", "application/octet-stream"), ("Content-Length", str(length)), ("X-Pod", POD)]


def wsgi(environ: dict[str, Any], start_response: Callable[..., object]) -> Iterator[bytes]:
    status, pause = route(environ.get("PATH_INFO", ""))
    if pause is None:
        body = b"ok\n" if status.startswith("200") else b"not found\n"
        start_response(status, headers(len(body)))
        yield body
        return
    start_response(status, headers(PIECES * len(PIECE)))
    for _ in range(PIECES):
        time.sleep(pause)
        yield PIECE


async def asgi(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
               send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    status, pause = route(scope["path"])
    code = int(status.split()[0])
    raw = [(k.lower().encode(), v.encode()) for k, v in headers(0)]
    if pause is None:
        body = b"ok\n" if code == 200 else b"not found\n"
        raw[1] = (b"content-length", str(len(body)).encode())
        await send({"type": "http.response.start", "status": code, "headers": raw})
        await send({"type": "http.response.body", "body": body})
        return
    raw[1] = (b"content-length", str(PIECES * len(PIECE)).encode())
    await send({"type": "http.response.start", "status": code, "headers": raw})
    for index in range(PIECES):
        await asyncio.sleep(pause)
        await send({"type": "http.response.body", "body": PIECE, "more_body": index < PIECES - 1})
