"""Fixtures for the gate tests under tests/gates (real components, session-wide)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.security import SecurityTargets, security_targets

from pytest_release.demo.history import start_history_prometheus
from pytest_release.demo.observability import PrometheusServer


@pytest.fixture(scope="session")
def security_stack_targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecurityTargets]:
    """Gate 4's real components with their violating variants (registry, images, keys, OPA,
    trivy DB, cluster snapshots); stopped at the end of the session."""
    with security_targets(tmp_path_factory.mktemp("security")) as targets:
        yield targets


@pytest.fixture(scope="module")
def histories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PrometheusServer]]:
    """Scenario name → a real Prometheus on its backfilled history
    (:func:`~pytest_release.demo.history.start_history_prometheus`), started on first use and
    stopped at the end of the module (the canary and post-deploy stage tests)."""
    servers: dict[str, PrometheusServer] = {}

    class Lazy(dict[str, PrometheusServer]):
        def __missing__(self, name: str) -> PrometheusServer:
            server = start_history_prometheus(Path(tmp_path_factory.mktemp(name)), name)
            servers[name] = server
            self[name] = server
            return server

    yield Lazy()
    for server in servers.values():
        server.stop()
