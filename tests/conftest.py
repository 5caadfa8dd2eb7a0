"""Fixtures for the plugin's own tests: pytester, real redis-server processes, release runs.

Layout (a check's test is found by the check's name):
    support/      the one harness (run.py), launchers and stacks (stacks.py, observability*.py,
                  redis_server.py), readers (dom.py), tools.missing_tool
    unit/         pure tables: verdict, settings, redaction, probes/
    plugin/       the plugin through pytester: options, sign-off integrity, reports, README
    gates/        one file per tests_release module, both ways against real targets
    demo_target/  the bundled feedback service itself
    e2e/          the one-command demo and the HTML report in a real browser
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest
from support.redis_server import REDIS_SERVER, RedisServer, RedisServers
from support.run import ReleaseRun
from support.run import run_release as _run_release
from support.tools import missing_tool

if TYPE_CHECKING:
    from pathlib import Path

#: Fixture plugins: the stacks (Gate 1–3 targets, ``release_suite``) and the observability stack.
pytest_plugins = ["pytester", "support.stacks", "support.observability_stack"]


@pytest.fixture(scope="session")
def redis_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServers]:
    """Session-wide owner of every redis-server started by the tests (all stopped at the end)."""
    import os

    if not os.path.exists(REDIS_SERVER):
        missing_tool(f"redis-server is not installed ({REDIS_SERVER}): apt-get install redis-server")
    servers = RedisServers(lambda: tmp_path_factory.mktemp("redis"))
    yield servers
    servers.stop_all()


@pytest.fixture
def redis_server(redis_servers: RedisServers) -> Iterator[Callable[..., RedisServer]]:
    """Factory: ``redis_server(appendonly="yes", maxmemory_policy="allkeys-lru")``.

    Each call starts a real redis-server on a free loopback port from a redis.conf holding the
    given directives (plus port/bind/dir/logfile, ``save ""`` and ``appendonly no`` unless given)
    and waits until it answers PING. Returns an object with ``url``, ``port``, ``conf_path`` and
    ``client()``. Servers started by a test are stopped when the test ends.
    """
    mine: list[RedisServer] = []

    def start(**directives: Any) -> RedisServer:
        server = redis_servers.start(**directives)
        mine.append(server)
        return server

    yield start
    for server in mine:
        server.stop()
        if server in redis_servers.running:
            redis_servers.running.remove(server)


@pytest.fixture
def run_release(pytester: pytest.Pytester,
                monkeypatch: pytest.MonkeyPatch) -> Callable[..., ReleaseRun]:
    """``result, signoff = run_release(*pytest_args)``: the suite in a pytester subprocess.

    Adds ``--release v5.7.1 --release-signoff <dir>/signoff.json``; ``signoff`` is the parsed
    JSON (None when none was written). ``modules=`` picks the tests_release modules to copy.
    """

    def run(*args: str, **kwargs: Any) -> ReleaseRun:
        kwargs.setdefault("monkeypatch", monkeypatch)
        return _run_release(pytester, *args, **kwargs)

    return run


def redis_args(server: RedisServer | None = None, *, url: str | None = None,
               conf: Path | None | bool = True) -> list[str]:
    """--release-set options pointing the Redis gate at ``server``."""
    args = ["--release-set", f"redis.url={url or server.url}"]  # type: ignore[union-attr]
    if conf and server is not None:
        path = server.conf_path if conf is True else conf
        args += ["--release-set", f"redis.config_file={path}",
                 "--release-set", "redis.host=local://"]
    return args


@pytest.fixture
def redis_release_args() -> Callable[..., list[str]]:
    """``redis_release_args(server, conf=False)`` → the --release-set options for that server."""
    return redis_args


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: real k6 loads and the full demo (in the default run)")
