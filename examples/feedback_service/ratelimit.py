"""Per-caller fixed-window rate limiting kept in Redis."""

from __future__ import annotations

import dataclasses
import math

from .storage import RedisGateway

KEY_PREFIX = "ratelimit:"

# Atomic: count the hit and make sure the window expires. The window opens at
# the caller's first request; PTTL < 0 also repairs a key that lost its TTL.
_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


@dataclasses.dataclass(frozen=True)
class RateLimitDecision:
    """Outcome of counting one request against a caller's budget."""

    allowed: bool
    limit: int
    window: int
    remaining: int
    reset_seconds: int

    def headers(self) -> list[tuple[str, str]]:
        """IETF ``RateLimit-*`` draft headers describing the caller's budget."""
        return [
            ("RateLimit-Limit", str(self.limit)),
            ("RateLimit-Remaining", str(self.remaining)),
            ("RateLimit-Reset", str(self.reset_seconds)),
            ("RateLimit-Policy", f"{self.limit};w={self.window}"),
        ]


class RateLimiter:
    """Allows ``limit`` requests per ``window`` seconds per subject."""

    def __init__(self, gateway: RedisGateway, *, limit: int, window: int, exempt: frozenset[str]) -> None:
        """Count hits through ``gateway``; subjects in ``exempt`` are never limited."""
        self._gateway = gateway
        self._script = gateway.client.register_script(_HIT_SCRIPT)
        self._limit = limit
        self._window = window
        self._exempt = exempt

    def hit(self, subject: str) -> RateLimitDecision | None:
        """Count one request by ``subject``; ``None`` means the subject is exempt.

        Raises:
            StorageUnavailable: if Redis cannot be reached.
        """
        if subject in self._exempt:
            return None
        key = f"{KEY_PREFIX}{subject}"
        window_ms = self._window * 1000
        count, ttl_ms = self._gateway.call(
            lambda client: self._script(keys=[key], args=[window_ms], client=client)
        )
        return RateLimitDecision(
            allowed=count <= self._limit,
            limit=self._limit,
            window=self._window,
            remaining=max(0, self._limit - count),
            reset_seconds=max(1, math.ceil(ttl_ms / 1000)),
        )
