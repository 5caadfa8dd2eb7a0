"""Thin fixtures that hand checks real handles. Clients are imported on first use only."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import pytest

from .evidence import not_measured

if TYPE_CHECKING:
    from .probes.redis import RedisProbe
    from .settings import Settings


@pytest.fixture(scope="session")
def redis_probe(release_settings: Settings) -> Iterator[RedisProbe]:
    """A :class:`RedisProbe` on ``redis.url``; checks are *not measured* when it is not set."""
    url = release_settings.redis.url
    if not url:
        not_measured("redis.url is not configured (set it in [redis] or --release-set redis.url=...)")
    from .probes.redis import RedisProbe

    probe = RedisProbe(url, timeout_s=release_settings.redis.timeout_s)
    yield probe
    probe.close()


@pytest.fixture(scope="session")
def redis_host(release_settings: Settings) -> Any:
    """The testinfra host that runs Redis (``redis.host``: local://, ssh://user@host, ...)."""
    from .probes import require

    testinfra = require("testinfra", "pytest-testinfra")
    try:
        return testinfra.get_host(release_settings.redis.host)
    except Exception as exc:  # testinfra raises bare errors for bad specs and missing backends
        not_measured(f"testinfra cannot open redis.host {release_settings.redis.host!r}: {exc}")
