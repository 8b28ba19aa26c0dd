"""Real servers on loopback for the tests: a TCP listener that holds what it accepts, and an
HTTP/1.1 server that follows a script, one action per request.

Actions: ("status", code, {header: value}, body) answers and closes (headers and body optional); ("hang",) reads the request and
never answers; ("silent",) accepts and never even reads; ("trickle", seconds) sends a status
line one byte at a time, forever; ("close",) reads the request and closes without an answer.
The last action repeats. Every request is recorded (time, method, path, headers, body).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Action = tuple[Any, ...]


class Listener:
    """A real TCP server that accepts connections and holds them until told to close them;
    `handle`, if given, serves each one on a thread of its own."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 handle: Callable[[socket.socket], None] | None = None) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.handle = handle
        self.accepted: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.05)
        while not self.stop.is_set():
            try:
                conn = self.sock.accept()[0]
            except (TimeoutError, OSError):
                continue
            self.accepted.append(conn)
            if self.handle is not None:
                threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def connect(self, count: int = 1) -> list[socket.socket]:
        """Client connections to this listener, established before this returns."""
        clients = [socket.create_connection((self.host, self.port), timeout=5) for _ in range(count)]
        for _ in range(500):
            if len(self.accepted) >= count:
                break
            time.sleep(0.01)
        return clients

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for conn in self.accepted:
            with contextlib.suppress(OSError):
                conn.close()
        self.sock.close()



@dataclass
class Request:
    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedServer:
    script: list[Action]
    tls: ssl.SSLContext | None = None  # serve HTTPS with this context
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.listener = Listener(handle=self._handle)
        self.port = self.listener.port
        self.url = f"http{'s' if self.tls else ''}://127.0.0.1:{self.port}"
        self.stopping = self.listener.stop

    def _next(self) -> Action:
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def _handle(self, conn: socket.socket) -> None:
        action = self._next()
        with contextlib.suppress(OSError):
            if action[0] == "silent":
                self.stopping.wait(60)
                return
            if self.tls is not None:
                conn.settimeout(10)
                conn = self.tls.wrap_socket(conn, server_side=True)
            request = self._read(conn)
            if request is None:
                return
            self.requests.append(request)
            if action[0] == "status":
                extra = "".join(f"{k}: {v}\r\n" for k, v in (action[2] if len(action) > 2 else {}).items())
                body: bytes = action[3] if len(action) > 3 else b""
                conn.sendall(f"HTTP/1.1 {action[1]} X\r\n{extra}Content-Length: {len(body)}\r\n"
                             "Connection: close\r\n\r\n".encode() + body)
            elif action[0] == "hang":
                self.stopping.wait(60)
            elif action[0] == "trickle":
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100000:
                    if self.stopping.wait(action[1]):
                        break
                    conn.sendall(bytes([byte]))
        with contextlib.suppress(OSError):
            conn.close()

    def _read(self, conn: socket.socket) -> Request | None:
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return Request(time.monotonic(), method, path, headers, body)

    def close(self) -> None:
        self.listener.close()
