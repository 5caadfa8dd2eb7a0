"""Fault switches: deliberate, real violations used to prove release checks work.

Each fault turns one production safeguard off (or makes it misbehave) so a
release-gate suite can be run against a genuinely broken service and shown to
fail for the right reason. A healthy service runs with no faults.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Fault(enum.StrEnum):
    """A named violation that can be switched on with ``--fault NAME``."""

    NO_TTL = "no_ttl"
    """Feedback is stored without an expiry."""
    LONG_TTL = "long_ttl"
    """Feedback is stored with a 30-day expiry instead of the configured one."""
    NO_RATE_LIMIT = "no_rate_limit"
    """Callers are never limited (no 429, no RateLimit-* headers)."""
    ERROR_500_ON_BAD_INPUT = "error_500_on_bad_input"
    """Malformed JSON and schema errors escape the handler and become 500s."""
    NO_AUTH = "no_auth"
    """Bearer tokens are not checked at all."""
    ACCEPT_ALG_NONE = "accept_alg_none"
    """Unsigned ``alg: none`` tokens are accepted without verification."""
    UNLABELLED_METRICS = "unlabelled_metrics"
    """The feedback counter carries no labels."""
    WRONG_METRIC_LABELS = "wrong_metric_labels"
    """The feedback counter carries the raw note as a label (unbounded cardinality)."""
    JWKS_PRIVATE = "jwks_private"
    """The JWKS publishes the private key members."""
    NO_REDIS_RETRY = "no_redis_retry"
    """One long-lived Redis connection without retries: a dropped connection fails a request."""
    SLOW = "slow"
    """Every feedback POST is delayed by ~200 ms."""
    LENIENT_SCHEMA = "lenient_schema"
    """Any JSON object is accepted: unknown fields and wrong types pass."""
    WRONG_STATUS_CODES = "wrong_status_codes"
    """Generic 400s instead of 411/413/415, 404 instead of 405, HTML 200 for unknown routes."""
    METRICS_RENAMED = "metrics_renamed"
    """The feedback counter is exported as ``aiops_feedbacks_total``."""


FAULT_NAMES: tuple[str, ...] = tuple(fault.value for fault in Fault)

_MUTUALLY_EXCLUSIVE: tuple[frozenset[Fault], ...] = (
    frozenset({Fault.NO_TTL, Fault.LONG_TTL}),
    frozenset({Fault.UNLABELLED_METRICS, Fault.WRONG_METRIC_LABELS}),
)


def parse_faults(names: Iterable[str]) -> frozenset[Fault]:
    """Turn fault names into a validated set of :class:`Fault` members.

    Blank names are ignored so that ``FEEDBACK_FAULTS=""`` means "no faults".

    Raises:
        ValueError: if a name is unknown or two faults contradict each other.
    """
    faults: set[Fault] = set()
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        try:
            faults.add(Fault(name))
        except ValueError:
            raise ValueError(f"unknown fault {name!r} (choose from: {', '.join(FAULT_NAMES)})") from None
    for group in _MUTUALLY_EXCLUSIVE:
        if group <= faults:
            names_in_conflict = " and ".join(sorted(fault.value for fault in group))
            raise ValueError(f"faults {names_in_conflict} cannot be combined")
    return frozenset(faults)
