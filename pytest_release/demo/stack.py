"""Start and stop the real components of the demo stack on loopback (also used by the tests).

Nothing here is a mock: redis-server, the feedback service, Prometheus and Alertmanager are the
real programs. The launchers live in :mod:`.processes` (spawn, free_port, wait_for),
:mod:`.redis_server`, :mod:`.service` and :mod:`.observability`; this module keeps the names the
tests and benchmarks import.
"""
from __future__ import annotations

from ..bundled import examples_path
from .processes import (
    Process,
    StackError,
    executable,
    free_port,
    port_open,
    spawn,
    wait_for,
)
from .redis_server import DEMO_REDIS, RedisServer, redis_conf_lines, start_redis
from .service import FeedbackService, start_service

#: The bundled examples (``examples/`` in a checkout, ``pytest_release/examples`` in a wheel).
EXAMPLES = examples_path()

__all__ = [
    "DEMO_REDIS", "EXAMPLES", "FeedbackService", "Process", "RedisServer", "StackError",
    "executable", "free_port", "port_open", "redis_conf_lines", "spawn", "start_redis",
    "start_service", "wait_for",
]
