"""Real ``redis-server`` processes for the tests, started by the product's own launcher.

``pytest_release.demo.stack.start_redis`` writes the directives into a real redis.conf
(``conf_path``) and starts ``redis-server <conf>``, so a check that reads the persisted config
sees exactly what the running server was started from. The tests' servers differ from the
demo's only in their defaults: AOF off unless a test asks for it.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_release.demo.stack import RedisServer, free_port, start_redis

__all__ = ["REDIS_SERVER", "RedisServer", "RedisServers", "free_port"]

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
#: The tests' baseline; each test adds the directives it is about.
TEST_DEFAULTS = {"appendonly": "no", "save": ""}


class RedisServers:
    """Starts redis-server processes in tmp dirs and stops every one of them on ``stop_all``."""

    def __init__(self, make_dir: Callable[[], Path]) -> None:
        self._make_dir = make_dir
        self.running: list[RedisServer] = []

    def start(self, **directives: Any) -> RedisServer:
        """Start a server; kwargs are redis.conf directives (``appendonly="yes"``, ...)."""
        server = start_redis(self._make_dir(), directives={**TEST_DEFAULTS, **directives})
        self.running.append(server)
        return server

    def stop_all(self) -> None:
        while self.running:
            self.running.pop().stop()
