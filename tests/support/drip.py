"""Loopback "drip" servers: real TCP servers that answer one byte every ``interval`` seconds.

Each read a client makes gets a byte well within any per-read timeout, so only a TOTAL deadline
ends the call. Four shapes, one per protocol the probes speak:

- :func:`http_headers_drip`: a valid HTTP status line and headers, dripped;
- :func:`http_body_drip`: status line and headers at once, the (JSON) body dripped;
- :func:`prometheus_drip`: a Prometheus/Alertmanager/Grafana-API-shaped JSON answer, dripped;
- :func:`resp_drip`: a Redis server that reads RESP commands and drips each reply.

``DripServer`` runs one thread per connection and stops them all (sockets closed) on ``stop()``.
"""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Handler = Callable[[socket.socket, "DripServer"], None]


class DripServer:
    """A loopback TCP server running ``handler(conn, server)`` for each client."""

    def __init__(self, handler: Handler, *, interval: float = 1.0) -> None:
        self.interval = interval
        self.stopping = threading.Event()
        self.connections = 0
        self.aborted = 0  # connections the client dropped mid-answer
        self._handler = handler
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"drip :{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def drip(self, conn: socket.socket, data: bytes) -> None:
        """Send ``data`` one byte per ``interval`` (returns early when the server stops)."""
        for i in range(len(data)):
            if self.stopping.is_set():
                return
            conn.sendall(data[i:i + 1])
            self.stopping.wait(self.interval)

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                self._sockets.append(conn)
                self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self._handler(conn, self)
        except OSError:  # the client gave up (its deadline shut the socket): that is the point
            with self._lock:
                self.aborted += 1

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(timeout=2)
        self._listener.close()
        with self._lock:
            for conn in self._sockets:
                try:
                    conn.close()
                except OSError:
                    pass


@contextmanager
def running(handler: Handler, *, interval: float = 1.0) -> Iterator[DripServer]:
    server = DripServer(handler, interval=interval)
    try:
        yield server
    finally:
        server.stop()


def _read_request(conn: socket.socket) -> bytes:
    """Read up to the end of an HTTP request's headers (bodies of probes' requests are small)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _http_head(length: int, content_type: str = "application/json") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n"
            "Connection: close\r\n\r\n").encode()


def http_headers_drip(body: bytes = b"{}", padding: int = 2000) -> Handler:
    """A valid status line and headers (one of them ``padding`` bytes long), all dripped."""
    def handler(conn: socket.socket, server: DripServer) -> None:
        _read_request(conn)
        head = _http_head(len(body))
        head = head.replace(b"\r\n", b"\r\nX-Drip: " + b"a" * padding + b"\r\n", 1)
        server.drip(conn, head + body)
    return handler


def http_body_drip(body: bytes = b'{"status": "success"' + b" " * 4000 + b"}",
                   content_type: str = "application/json") -> Handler:
    """Status line and headers at once, then the body one byte per interval."""
    def handler(conn: socket.socket, server: DripServer) -> None:
        _read_request(conn)
        conn.sendall(_http_head(len(body), content_type))
        server.drip(conn, body)
    return handler


def prometheus_drip() -> Handler:
    """An answer shaped like Prometheus' HTTP API (``{"status": "success", "data": ...}``) for
    any path, headers fast and the JSON dripped; ``/metrics``-style paths get an exposition."""
    envelope = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "up", "job": "feedback-service"}, "value": [0, "1"]}] * 40}})

    def handler(conn: socket.socket, server: DripServer) -> None:
        request = _read_request(conn)
        path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b"/"
        if b"/api/" in path:
            body, kind = envelope.encode(), "application/json"
        else:
            body, kind = b"# TYPE up gauge\nup 1\n" * 200, "text/plain; version=0.0.4"
        conn.sendall(_http_head(len(body), kind))
        server.drip(conn, body)
    return handler


def resp_drip(reply: bytes = b"$400\r\n" + b"x" * 400 + b"\r\n") -> Handler:
    """A Redis server: each RESP command read is answered with ``reply``, dripped."""
    def handler(conn: socket.socket, server: DripServer) -> None:
        buffer = b""
        while not server.stopping.is_set():
            chunk = conn.recv(65536)
            if not chunk:
                return
            buffer += chunk
            while True:
                command, buffer = _one_command(buffer)
                if command is None:
                    break
                server.drip(conn, reply)
    return handler


def _one_command(buffer: bytes) -> tuple[list[bytes] | None, bytes]:
    """Split one RESP array of bulk strings off ``buffer`` (None: not complete yet)."""
    if not buffer.startswith(b"*"):
        line, sep, rest = buffer.partition(b"\r\n")  # an inline command
        return ((line.split(), rest) if sep else (None, buffer))
    head, sep, rest = buffer.partition(b"\r\n")
    if not sep:
        return None, buffer
    parts: list[bytes] = []
    for _ in range(int(head[1:])):
        size_line, sep, rest = rest.partition(b"\r\n")
        if not sep or len(rest) < int(size_line[1:]) + 2:
            return None, buffer
        size = int(size_line[1:])
        parts.append(rest[:size])
        rest = rest[size + 2:]
    return parts, rest
