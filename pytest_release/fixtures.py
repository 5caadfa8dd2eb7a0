"""Thin fixtures that hand checks real handles. Clients are imported on first use only."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


@pytest.fixture(scope="session")
def feedback_api(release_settings: Settings) -> Iterator[Any]:
    """A :class:`FeedbackApi` on ``api.url``; checks are *not measured* when it is not set."""
    cfg = release_settings.api
    if not cfg.url:
        not_measured("api.url is not configured (set it in [api] or --release-set api.url=...)")
    from .probes.http_api import FeedbackApi

    api = FeedbackApi(cfg.url, feedback_path=cfg.feedback_path, token=cfg.token,
                      timeout_s=cfg.timeout_s)
    yield api
    api.close()


@pytest.fixture(scope="session")
def api_token(release_settings: Settings) -> str:
    """The bearer token the API checks use (``api.token``)."""
    if not release_settings.api.token:
        not_measured("api.token is not configured (set token = \"${API_TOKEN}\" in [api])")
    return release_settings.api.token


@pytest.fixture(scope="session")
def k6_run(release_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The k6 load run of ``[load]`` against ``api.url`` (one run per session, xdist-safe)."""
    import os

    from .probes.k6 import find_k6, run_once
    from .settings import duration_seconds

    api, load = release_settings.api, release_settings.load
    if not api.url:
        not_measured("api.url is not configured: there is no target to load")
    token = load.token or api.token
    if not token:
        not_measured("no token for the load: set load.token or api.token")
    script = Path(load.script)
    if not script.is_file():
        not_measured(f"load.script {script} does not exist")
    k6 = find_k6(load.k6)
    env = {
        "BASE_URL": api.url.rstrip("/"), "FEEDBACK_PATH": api.feedback_path, "TOKEN": token,
        "VUS": str(load.vus), "DURATION": load.duration, "THINK_TIME_MS": str(load.think_time_ms),
        "MAX_ERROR_RATE": str(load.max_error_rate), "P95_MS": str(load.p95_ms),
        "MIN_SUCCESS_RATE": str(load.min_success_rate),
    }
    # Workers of one xdist run share the parent of their basetemp and the run uid.
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    run_uid = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))
    return run_once(
        f"{run_uid}|{sorted(env.items())}|{script}", shared, k6=k6, script=script, env=env,
        timeout_s=duration_seconds(load.duration) + load.timeout_s,
        token_variable="LOAD_TOKEN" if load.token else "API_TOKEN",
    )
