"""Real ``redis-server`` processes on free loopback ports, each with its own redis.conf.

The directives are written into a real config file (``conf_path``) and the server is started as
``redis-server <conf>``, so a check that reads the persisted config sees exactly what the running
server was started from.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
START_TIMEOUT_S = 10.0


def free_port() -> int:
    """A loopback TCP port nothing listens on right now (the caller retries on a lost race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if text == "" or any(c.isspace() for c in text):
        return '"' + text.replace('"', '\\"') + '"'
    return text


def directive_lines(name: str, value: Any) -> list[str]:
    """``maxmemory_policy="allkeys-lru"`` → ``maxmemory-policy allkeys-lru``.

    A tuple is one directive with several arguments (``rename_command=("CONFIG", "")`` →
    ``rename-command CONFIG ""``); a list repeats the directive once per element.
    """
    directive = name.replace("_", "-")
    values = value if isinstance(value, list) else [value]
    lines = []
    for v in values:
        args = " ".join(_word(a) for a in v) if isinstance(v, tuple) else _word(v)
        lines.append(f"{directive} {args}")
    return lines


@dataclass
class RedisServer:
    """One running redis-server: ``url``, ``port``, ``conf_path``, ``client()``."""

    port: int
    dir: Path
    conf_path: Path
    password: str | None
    process: subprocess.Popen[bytes]
    _clients: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def log(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def client(self, **kwargs: Any) -> redis.Redis:
        """A redis-py client (decoded responses) for seeding and inspecting the server."""
        import redis

        kwargs.setdefault("decode_responses", True)
        kwargs.setdefault("socket_timeout", 5)
        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, **kwargs)
        self._clients.append(client)
        return client

    def stop(self) -> None:
        for client in self._clients:
            try:
                client.close()
            except Exception:
                pass
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    # +PONG, or -NOAUTH when requirepass is set: either way the server is serving.
    return reply[:1] in (b"+", b"-")


class RedisServers:
    """Starts redis-server processes in tmp dirs and stops every one of them on ``stop_all``."""

    def __init__(self, make_dir: Callable[[], Path]) -> None:
        self._make_dir = make_dir
        self.running: list[RedisServer] = []

    def start(self, **directives: Any) -> RedisServer:
        """Start a server; kwargs are redis.conf directives (``appendonly="yes"``, ...)."""
        last_error = ""
        for _attempt in range(5):
            workdir = self._make_dir()
            port = free_port()
            config: dict[str, Any] = {
                "port": port,
                "bind": "127.0.0.1",
                "dir": str(workdir),
                "daemonize": "no",
                "logfile": str(workdir / "redis.log"),
                "save": "",
                "appendonly": "no",
            }
            config.update(directives)
            config["port"] = port
            lines = [line for name, value in config.items() for line in directive_lines(name, value)]
            conf_path = workdir / "redis.conf"
            conf_path.write_text("\n".join(lines) + "\n")
            process = subprocess.Popen(
                [REDIS_SERVER, str(conf_path)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            password = config.get("requirepass")
            server = RedisServer(port, workdir, conf_path, str(password) if password else None,
                                 process)
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    break
                if _answers_ping(port):
                    self.running.append(server)
                    return server
                time.sleep(0.02)
            server.stop()
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            last_error = f"exit {process.returncode}: {stderr.strip()} {server.log[-2000:]}"
            if "Address already in use" not in last_error:
                break
        raise RuntimeError(f"redis-server did not start: {last_error}")

    def stop_all(self) -> None:
        while self.running:
            self.running.pop().stop()
