"""Redis access: client construction, error accounting and the feedback repository."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from .metrics import ServiceMetrics

CLIENT_NAME = "feedback-service"
KEY_PREFIX = "feedback:"

T = TypeVar("T")


class StorageUnavailable(Exception):
    """Redis could not serve a request (after any retries)."""


def connect_redis(url: str, *, resilient: bool = True) -> redis.Redis:
    """Build a Redis client for ``url``; every connection is named ``feedback-service``.

    The resilient client draws connections from a pool (which replaces dead
    connections on checkout), retries connection errors and timeouts with
    exponential backoff and pings idle connections before reuse.

    ``resilient=False`` is the ``no_redis_retry`` fault: a single long-lived
    connection opened at construction, no retries and no health checks, so the
    first command after the connection is dropped fails.
    """
    common: dict[str, Any] = {
        "socket_timeout": 1.0,
        "socket_connect_timeout": 1.0,
        "client_name": CLIENT_NAME,
        "decode_responses": True,
    }
    if resilient:
        return redis.Redis.from_url(
            url,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.01), retries=3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
            health_check_interval=5,
            **common,
        )
    return redis.Redis.from_url(
        url,
        retry=Retry(NoBackoff(), retries=0),
        health_check_interval=0,
        single_connection_client=True,
        **common,
    )


class RedisGateway:
    """Runs Redis operations, keeping the Redis health metrics up to date."""

    def __init__(self, client: redis.Redis, metrics: ServiceMetrics) -> None:
        """Wrap ``client``; outcomes are reported to ``metrics``."""
        self.client = client
        self._metrics = metrics

    def call(self, operation: Callable[[redis.Redis], T]) -> T:
        """Run ``operation(client)``.

        Raises:
            StorageUnavailable: if Redis fails; the cause is logged by the caller.
        """
        try:
            result = operation(self.client)
        except redis.RedisError as exc:
            self._metrics.redis_failed()
            raise StorageUnavailable(type(exc).__name__) from exc
        self._metrics.redis_ok()
        return result

    def ping(self) -> bool:
        """Return whether Redis answers PING."""
        try:
            return bool(self.call(lambda client: client.ping()))
        except StorageUnavailable:
            return False

    def close(self) -> None:
        """Close every connection."""
        self.client.close()


class FeedbackRepository:
    """Feedback documents stored as JSON strings under ``feedback:<id>``."""

    def __init__(self, gateway: RedisGateway, ttl_seconds: int | None) -> None:
        """Store through ``gateway``; ``ttl_seconds=None`` stores without expiry."""
        self._gateway = gateway
        self._ttl_seconds = ttl_seconds

    @staticmethod
    def key(feedback_id: str) -> str:
        """The Redis key of a feedback document."""
        return f"{KEY_PREFIX}{feedback_id}"

    def save(self, feedback_id: str, record: Mapping[str, Any]) -> None:
        """Write ``record`` and its expiry atomically (a single ``SET ... EX``)."""
        payload = json.dumps(record, separators=(",", ":"))
        key = self.key(feedback_id)
        self._gateway.call(lambda client: client.set(key, payload, ex=self._ttl_seconds))

    def get(self, feedback_id: str) -> dict[str, Any] | None:
        """Return the stored record, or ``None`` if absent or expired."""
        key = self.key(feedback_id)
        payload = self._gateway.call(lambda client: client.get(key))
        return None if payload is None else json.loads(payload)
