"""Fixtures for the gate tests under tests/gates (real components, session-wide)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.security import SecurityTargets, security_targets


@pytest.fixture(scope="session")
def security_stack_targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecurityTargets]:
    """Gate 4's real components with their violating variants (registry, images, keys, OPA,
    trivy DB, cluster snapshots); stopped at the end of the session."""
    with security_targets(tmp_path_factory.mktemp("security")) as targets:
        yield targets
