"""Fixtures that run the real feedback service against a real redis-server on loopback.

Self-contained on purpose (stdlib, redis-py and the example package only) so the
fixtures can later move to a shared ``tests/conftest.py`` unchanged:

* ``redis_server`` (session): a throw-away redis-server on a free port.
* ``signing_key_file`` (session): one RSA key shared by every service started here.
* ``launch_service`` (function): ``launch_service(faults=..., rate_limit=...)`` starts
  ``python -m feedback_service serve`` on a free port and waits for its READY line.
* ``service_pool`` (module): named services started on first use, stopped with the module.
* ``healthy_service`` (module): a healthy service with a small rate-limit budget.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

# ``feedback_service`` is installed with pytest-release (see setup.py): no sys.path edits.
from feedback_service import mint_token
from feedback_service.auth import SigningKey

from pytest_release.demo.stack import RedisServer
from pytest_release.demo.stack import start_redis as _start_redis

ISSUER = "https://feedback.demo.local"
AUDIENCE = "aiops-feedback"
EXEMPT_SUBJECT = "loadtest"
START_TIMEOUT = 30.0
HTTP_TIMEOUT = 5.0


def _terminate(process: subprocess.Popen[bytes], timeout: float = 10.0, *, signalled: bool = False) -> int:
    """SIGTERM (unless already ``signalled``), SIGKILL after ``timeout``; returns the exit status.

    SIGTERM is sent once only: a second one can land after Python has restored the default
    handler during interpreter shutdown and turn a clean exit into -15.
    """
    if process.poll() is None and not signalled:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
    return process.returncode


def start_redis(directory: Path) -> RedisServer:
    """A throw-away redis-server (no persistence) on a free port, answering PING."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return _start_redis(directory, directives={"appendonly": "no", "save": ""})


@dataclasses.dataclass
class HTTPResult:
    """A complete HTTP response."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclasses.dataclass
class FeedbackServiceProcess:
    """A running ``python -m feedback_service serve`` and helpers to talk to it."""

    process: subprocess.Popen[bytes]
    url: str
    key_file: Path
    log_path: Path
    argv: list[str]

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://").rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def token(self, sub: str | None = None, **kwargs: Any) -> str:
        """A valid token; each call gets its own subject (rate-limit bucket) unless given."""
        return mint_token(
            self.key_file,
            sub=sub or f"test-{uuid.uuid4().hex[:12]}",
            issuer=kwargs.pop("issuer", ISSUER),
            audience=kwargs.pop("audience", AUDIENCE),
            **kwargs,
        )

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        json_body: Any = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        connection: http.client.HTTPConnection | None = None,
    ) -> HTTPResult:
        """Send one request (on ``connection`` if given, else a fresh one)."""
        all_headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        conn = connection or self.connection()
        try:
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            return HTTPResult(response.status, response.headers, response.read())
        finally:
            if connection is None:
                conn.close()

    def raw(self, data: bytes) -> bytes:
        """Send raw bytes and return everything the server answers before closing/idling."""
        with socket.create_connection((self.host, self.port), timeout=HTTP_TIMEOUT) as sock:
            sock.sendall(data)
            sock.settimeout(1.0)
            chunks = []
            try:
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            except TimeoutError:
                pass
        return b"".join(chunks)

    def metrics_text(self) -> str:
        result = self.request("GET", "/metrics/aiops")
        assert result.status == 200
        return result.body.decode()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, *, signalled: bool = False) -> int:
        """Stop with SIGTERM (unless already ``signalled``); returns the exit status."""
        status = _terminate(self.process, signalled=signalled)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return status


def _wait_for_ready(process: subprocess.Popen[bytes], timeout: float) -> str | None:
    """Read stdout until ``READY <url>``; ``None`` on exit or timeout."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=0.1):
                if process.poll() is not None:
                    return None
                continue
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                return None
            buffer += chunk
            for line in buffer.decode(errors="replace").splitlines():
                if line.startswith("READY "):
                    return line.split(" ", 1)[1].strip()
    return None


def service_argv(
    *,
    redis_url: str,
    key_file: Path,
    faults: Sequence[str] = (),
    rate_limit: int = 5,
    rate_window: int = 60,
    exempt: Sequence[str] = (EXEMPT_SUBJECT,),
    extra: Sequence[str] = (),
) -> list[str]:
    """Command line for ``feedback_service serve`` on a free loopback port."""
    argv = [
        sys.executable,
        "-m",
        "feedback_service",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--redis-url",
        redis_url,
        "--key-file",
        str(key_file),
        "--rate-limit",
        str(rate_limit),
        "--rate-window",
        str(rate_window),
    ]
    for subject in exempt:
        argv += ["--rate-limit-exempt", subject]
    for fault in faults:
        argv += ["--fault", fault]
    return argv + list(extra)


def service_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for ``python -m feedback_service`` (installed with pytest-release).

    Inherited ``FEEDBACK_*`` variables are dropped so only ``overrides`` configure the service.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_")}
    env.update(overrides or {})
    return env


def start_feedback_service(
    workdir: Path, argv: list[str], key_file: Path, env: Mapping[str, str] | None = None
) -> FeedbackServiceProcess:
    """Spawn the service, wait for READY, and return a handle (stderr goes to a log file)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "feedback-service.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            cwd=workdir,
            env=service_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    url = _wait_for_ready(process, START_TIMEOUT)
    if url is None:
        _terminate(process)
        raise RuntimeError(f"feedback service did not become ready:\n{log_path.read_text()}")
    return FeedbackServiceProcess(process, url, key_file, log_path, argv)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def signing_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "signing-key.pem"
    SigningKey.load_or_create(path)
    return path


LaunchService = Callable[..., FeedbackServiceProcess]
SpawnRedis = Callable[[], RedisServer]
RunCli = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def spawn_redis(tmp_path: Path) -> Iterator[SpawnRedis]:
    """Factory for extra, test-owned redis-servers (e.g. to stop one mid-test)."""
    started: list[RedisServer] = []

    def spawn() -> RedisServer:
        server = start_redis(tmp_path / f"redis-{len(started)}")
        started.append(server)
        return server

    yield spawn
    for server in started:
        server.stop()


@pytest.fixture
def launch_service(
    redis_server: RedisServer, signing_key_file: Path, tmp_path: Path
) -> Iterator[LaunchService]:
    """Factory: ``launch_service(faults=("slow",), rate_limit=5, redis_url=..., env={...})``.

    Keyword arguments are those of :func:`service_argv` plus ``env`` (``FEEDBACK_*``
    variables). Every service started is stopped afterwards and must exit 0 on SIGTERM.
    """
    started: list[FeedbackServiceProcess] = []

    def launch(*, env: Mapping[str, str] | None = None, **options: Any) -> FeedbackServiceProcess:
        options.setdefault("redis_url", redis_server.url)
        options.setdefault("key_file", signing_key_file)
        service = start_feedback_service(
            tmp_path / f"service-{len(started)}", service_argv(**options), options["key_file"], env
        )
        started.append(service)
        return service

    yield launch
    for service in started:
        assert service.stop() == 0, service.log()


class ServicePool:
    """Services started on first use (one at a time) and kept for the whole module."""

    def __init__(self, workdir: Path, redis_url: str, key_file: Path) -> None:
        self._workdir = workdir
        self._redis_url = redis_url
        self._key_file = key_file
        self._specs: dict[str, dict[str, Any]] = {}
        self._started: dict[str, FeedbackServiceProcess] = {}

    def define(self, name: str, **options: Any) -> None:
        """Register ``name`` with :func:`service_argv` options; started by ``pool[name]``."""
        self._specs[name] = options

    def __getitem__(self, name: str) -> FeedbackServiceProcess:
        if name not in self._started:
            options = {"redis_url": self._redis_url, "key_file": self._key_file, **self._specs[name]}
            self._started[name] = start_feedback_service(
                self._workdir / name, service_argv(**options), self._key_file
            )
        return self._started[name]

    def stop_all(self) -> dict[str, int]:
        """SIGTERM every started service at once; exit statuses by name."""
        for service in self._started.values():
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        return {name: service.stop(signalled=True) for name, service in self._started.items()}


@pytest.fixture(scope="module")
def service_pool(
    redis_server: RedisServer, signing_key_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServicePool]:
    """Module-scoped :class:`ServicePool`; every service must exit 0 on SIGTERM at the end."""
    pool = ServicePool(tmp_path_factory.mktemp("pool"), redis_server.url, signing_key_file)
    yield pool
    statuses = pool.stop_all()
    assert set(statuses.values()) <= {0}, statuses


@pytest.fixture
def run_cli() -> RunCli:
    """Run ``python -m feedback_service ARGS...`` to completion (30 s timeout)."""

    def run(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "feedback_service", *args],
            env=service_env(env),
            capture_output=True,
            text=True,
            timeout=30,
        )

    return run


@pytest.fixture(scope="module")
def healthy_service(
    redis_server: RedisServer, signing_key_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FeedbackServiceProcess]:
    """A healthy service: 5 requests per 60 s per subject, ``loadtest`` exempt."""
    argv = service_argv(redis_url=redis_server.url, key_file=signing_key_file)
    service = start_feedback_service(tmp_path_factory.mktemp("service"), argv, signing_key_file)
    yield service
    assert service.stop() == 0, service.log()
