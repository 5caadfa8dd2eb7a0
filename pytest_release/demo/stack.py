"""Start and stop the real components of the demo stack on loopback (also used by the tests).

Every process gets a free port, a directory of its own and a log file; ``stop()`` terminates it
(then kills it after a grace period). Nothing here is a mock: redis-server, the feedback service,
Prometheus and Alertmanager are the real programs.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..bundled import examples_path

#: The bundled examples (``examples/`` in a checkout, ``pytest_release/examples`` in a wheel).
EXAMPLES = examples_path()


class StackError(RuntimeError):
    """A component could not be started; the message says which and how to fix it."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], *, timeout: float, what: str,
              process: Process | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.popen.poll() is not None:
            raise StackError(f"{what}: process exited with {process.popen.returncode}; "
                             f"log: {process.log_path}\n{process.tail()}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise StackError(f"{what}: not ready after {timeout:.0f} s; log: "
                     f"{process.log_path if process else '-'}")


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def executable(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"{name} is not installed: {hint}")
    return path


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] | None = None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None


def spawn(name: str, argv: Sequence[str], workdir: Path, *, env: Mapping[str, str] | None = None,
          stdout_pipe: bool = False) -> Process:
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}.log"
    log = open(log_path, "ab")
    full_env = dict(os.environ)
    full_env.update(env or {})
    popen = subprocess.Popen(
        list(argv), cwd=workdir, env=full_env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout_pipe else log, stderr=log,
        start_new_session=True,
    )
    return Process(name, popen, log_path, log)


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


@dataclass
class FeedbackService:
    process: Process
    url: str
    key_file: Path
    issuer: str
    audience: str
    faults: tuple[str, ...] = ()
    argv: list[str] = field(default_factory=list)

    def token(self, sub: str = "release-checks", lifetime: int = 3600, **kwargs: object) -> str:
        from feedback_service import mint_token

        return str(mint_token(self.key_file, sub=sub, issuer=self.issuer, audience=self.audience,
                              lifetime=lifetime, **kwargs))

    def stop(self) -> None:
        self.process.stop()


def start_service(workdir: Path, *, redis_url: str, faults: Sequence[str] = (),
                  rate_limit: int = 600, rate_window: int = 60,
                  exempt: Sequence[str] = ("loadtest",),
                  issuer: str = "https://feedback.demo.local",
                  audience: str = "aiops-feedback", key_file: Path | None = None,
                  timeout: float = 20.0) -> FeedbackService:
    """The bundled feedback service (the installed ``feedback_service``) on a free loopback port."""
    workdir.mkdir(parents=True, exist_ok=True)
    key_file = key_file or workdir / "signing-key.pem"
    argv = [sys.executable, "-m", "feedback_service", "serve", "--host", "127.0.0.1",
            "--port", "0", "--redis-url", redis_url, "--key-file", str(key_file),
            "--issuer", issuer, "--audience", audience, "--rate-limit", str(rate_limit),
            "--rate-window", str(rate_window)]
    for sub in exempt:
        argv += ["--rate-limit-exempt", sub]
    for fault in faults:
        argv += ["--fault", fault]
    env = {"PYTHONUNBUFFERED": "1"}
    process = spawn("feedback-service", argv, workdir, env=env, stdout_pipe=True)
    assert process.popen.stdout is not None
    deadline = time.monotonic() + timeout
    url = None
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(process.popen.stdout, selectors.EVENT_READ)
    buffer = b""
    while url is None and time.monotonic() < deadline:
        if not selector.select(timeout=0.2):
            if process.popen.poll() is not None:
                break
            continue
        chunk = os.read(process.popen.stdout.fileno(), 4096)
        if not chunk:
            break
        buffer += chunk
        for line in buffer.decode(errors="replace").splitlines():
            if line.startswith("READY "):
                url = line.split(" ", 1)[1].strip()
    selector.close()
    if url is None:
        process.stop()
        raise StackError(f"feedback service did not become ready; log: {process.log_path}\n"
                         f"{process.tail()}")
    # Keep draining stdout into the log so the service never blocks on a full pipe.
    _drain(process)
    return FeedbackService(process, url, key_file, issuer, audience, tuple(faults), argv)


def _drain(process: Process) -> None:
    import threading

    def pump() -> None:
        stream = process.popen.stdout
        assert stream is not None
        with open(process.log_path, "ab") as log:
            for line in iter(stream.readline, b""):
                log.write(line)
                log.flush()

    threading.Thread(target=pump, name=f"drain-{process.name}", daemon=True).start()
