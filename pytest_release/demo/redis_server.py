"""A real redis-server from a real redis.conf on a free loopback port (demo and tests)."""
from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .processes import Process, StackError, executable, free_port, spawn


@dataclass
class RedisServer:
    """A running redis-server: ``url``, ``port``, ``conf_path``, ``client()``, ``stop()``."""

    process: Process
    port: int
    conf_path: Path
    password: str | None = None
    _clients: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def log(self) -> str:
        path = self.conf_path.parent / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def client(self, **kwargs: Any) -> Any:
        """A redis-py client (decoded responses) for seeding and inspecting the server."""
        import redis

        kwargs.setdefault("decode_responses", True)
        kwargs.setdefault("socket_timeout", 5)
        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, **kwargs)
        self._clients.append(client)
        return client

    def stop(self) -> None:
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.close()
        self.process.stop()


#: What the demo runs with: the checklist's Redis (AOF on, noeviction), no RDB snapshots.
DEMO_REDIS = {"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction",
              "save": ""}


def redis_conf_lines(name: str, value: Any) -> list[str]:
    """``maxmemory_policy="allkeys-lru"`` → ``maxmemory-policy allkeys-lru``.

    Booleans become yes/no, empty or spaced words are quoted, a tuple is one directive with
    several arguments (``rename_command=("CONFIG", "")``), a list repeats the directive.
    """
    def word(item: Any) -> str:
        if isinstance(item, bool):
            return "yes" if item else "no"
        text = str(item)
        if text == "" or any(c.isspace() for c in text):
            return '"' + text.replace('"', '\\"') + '"'
        return text

    directive = name.replace("_", "-")
    values = value if isinstance(value, list) else [value]
    return [f"{directive} {' '.join(word(a) for a in v) if isinstance(v, tuple) else word(v)}"
            for v in values]


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    # +PONG, or -NOAUTH when requirepass is set: either way the server is serving.
    return reply[:1] in (b"+", b"-")


def start_redis(workdir: Path, *, directives: Mapping[str, Any] | None = None,
                password: str | None = None, timeout: float = 10.0) -> RedisServer:
    """redis-server from a real redis.conf in ``workdir``, on a free loopback port.

    ``directives`` (``appendonly="no"``, ``maxmemory_policy="allkeys-lru"``, ...) override
    :data:`DEMO_REDIS`. Waits until the server answers PING; retries another port if the one it
    picked was taken meanwhile.
    """
    binary = executable("redis-server", "apt-get install redis-server")
    settings: dict[str, Any] = {k.replace("_", "-"): v for k, v in DEMO_REDIS.items()}
    settings.update({k.replace("_", "-"): v for k, v in (directives or {}).items()})
    if password:
        settings["requirepass"] = password
    password = settings.get("requirepass") or None
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "redis.conf"
    last_error = ""
    for _attempt in range(5):
        port = free_port()
        base = {"port": port, "bind": "127.0.0.1", "protected-mode": "no", "dir": str(workdir),
                "daemonize": "no", "logfile": str(workdir / "redis.log")}
        lines = [line for name, value in {**base, **settings, "port": port}.items()
                 for line in redis_conf_lines(name, value)]
        conf.write_text("\n".join(lines) + "\n")
        server = RedisServer(spawn("redis-server", [binary, str(conf)], workdir), port, conf,
                             str(password) if password else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and server.process.popen.poll() is None:
            if _answers_ping(port):
                return server
            time.sleep(0.02)
        server.stop()
        last_error = f"exit {server.process.popen.returncode}: {server.log[-2000:]}"
        if "Address already in use" not in last_error:
            break
    raise StackError(f"redis-server did not start in {workdir}: {last_error}")
