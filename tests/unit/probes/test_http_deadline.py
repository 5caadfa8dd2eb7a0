"""probes/_http: one TOTAL deadline per call, even against a server that trickles bytes."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from pytest_release.probes import ProbeUnavailable
from pytest_release.probes._http import get_json, send


@pytest.fixture
def server() -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    """``server(handler)`` → URL of a loopback TCP server running ``handler(conn)`` per client."""
    sockets: list[socket.socket] = []
    stop = threading.Event()

    def start(handler: Callable[[socket.socket], None]) -> str:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.2)
        sockets.append(listener)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                sockets.append(conn)
                threading.Thread(target=handler, args=(conn,), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}/x"

    yield start
    stop.set()
    for s in sockets:
        s.close()


def trickle(data: bytes, pause: float) -> Callable[[socket.socket], None]:
    def handler(conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            for i in range(len(data)):
                conn.sendall(data[i:i + 1])
                time.sleep(pause)
        except OSError:
            pass
    return handler


HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n"


SLOW_HEADER = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 400 + b"\r\n" + HEADERS[17:]


@pytest.mark.parametrize("payload", [SLOW_HEADER, HEADERS + b" " * 2000],
                         ids=["headers-trickle", "body-trickle"])
def test_a_trickling_server_cannot_outlast_the_deadline(server, payload):
    # Every single read gets a byte within 0.05 s, so a per-read timeout would never fire.
    url = server(trickle(payload, 0.05))
    started = time.monotonic()
    with pytest.raises(ProbeUnavailable, match=r"unreachable: GET did not complete within 1 s"):
        send("GET", url, timeout_s=1.0, what="Example at")
    assert time.monotonic() - started < 1.5


def test_refused_is_unreachable_without_the_exception_text():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ProbeUnavailable) as info:
        send("GET", f"http://user:hunter22@127.0.0.1:{port}/", timeout_s=2.0, what="Example at",
             display_url=f"http://user:***@127.0.0.1:{port}/")
    assert "is unreachable: GET failed: ConnectionError" in str(info.value)
    assert "hunter22" not in str(info.value)


def test_an_answer_is_returned_with_its_body(server):
    body = b'{"ok": true}'
    reply = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
             b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
    url = server(trickle(reply, 0.0))
    response, data = get_json(url, timeout_s=5.0, what="Example at")
    assert response.status_code == 503 and data == {"ok": True}
