"""Service configuration."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .faults import Fault, parse_faults

DEFAULT_ISSUER = "https://feedback.demo.local"
DEFAULT_AUDIENCE = "aiops-feedback"


@dataclasses.dataclass(frozen=True)
class ServiceConfig:
    """Everything the feedback service needs to start.

    Attributes:
        redis_url: ``redis://[:password@]host:port/db`` URL. Treated as a secret.
        key_file: PEM RSA private key used to sign tokens; created if missing.
        host: address to bind.
        port: TCP port to bind; ``0`` picks a free port.
        issuer: expected (and minted) ``iss`` claim.
        audience: expected (and minted) ``aud`` claim.
        rate_limit: requests allowed per caller per window.
        rate_window: window length in seconds.
        rate_limit_exempt: token subjects that are never rate limited.
        ttl_seconds: expiry of stored feedback.
        max_body_bytes: largest accepted request body.
        faults: deliberate violations to switch on (see :mod:`.faults`).
    """

    redis_url: str = dataclasses.field(repr=False)
    key_file: Path
    host: str = "127.0.0.1"
    port: int = 8080
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    rate_limit: int = 600
    rate_window: int = 60
    rate_limit_exempt: frozenset[str] = frozenset()
    ttl_seconds: int = 604_800
    max_body_bytes: int = 16_384
    faults: frozenset[Fault] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_file", Path(self.key_file))
        object.__setattr__(self, "rate_limit_exempt", frozenset(self.rate_limit_exempt))
        object.__setattr__(self, "faults", parse_faults(self.faults))
        if not self.redis_url:
            raise ValueError("redis_url is required")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        for name in ("rate_limit", "rate_window", "ttl_seconds", "max_body_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def has(self, fault: Fault) -> bool:
        """Return whether ``fault`` is switched on."""
        return fault in self.faults
