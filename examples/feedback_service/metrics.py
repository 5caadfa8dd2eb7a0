"""Prometheus instrumentation on a dedicated registry."""

from __future__ import annotations

import itertools

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .faults import Fault
from .schema import SEVERITIES, SOURCES, TYPES

# Dense around the 120 ms latency objective so P95 can be read off precisely.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.12, 0.15, 0.25, 0.5, 1.0, 2.5)
FEEDBACK_LABELS = ("source", "type", "severity")


class ServiceMetrics:
    """All metrics the service exports under ``/metrics/aiops``."""

    def __init__(self, faults: frozenset[Fault] = frozenset()) -> None:
        """Register the metrics; feedback-counter faults change its name or labels."""
        self.registry = CollectorRegistry()
        self._feedback_labels: tuple[str, ...] = FEEDBACK_LABELS
        if Fault.UNLABELLED_METRICS in faults:
            self._feedback_labels = ()
        elif Fault.WRONG_METRIC_LABELS in faults:
            self._feedback_labels = (*FEEDBACK_LABELS, "note")
        feedback_name = "aiops_feedbacks" if Fault.METRICS_RENAMED in faults else "aiops_feedback"
        self.feedback = Counter(
            feedback_name,
            "Feedback documents stored, by source, type and severity.",
            self._feedback_labels,
            registry=self.registry,
        )
        if self._feedback_labels == FEEDBACK_LABELS:
            # Export every bounded series at zero so rate() works from the first event.
            for labels in itertools.product(SOURCES, TYPES, SEVERITIES):
                self.feedback.labels(*labels)
        self.request_duration = Histogram(
            "aiops_http_request_duration_seconds",
            "Time from parsed request to response ready to send.",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "aiops_http_requests",
            "HTTP requests served.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.errors = Counter(
            "aiops_http_errors",
            "HTTP responses with a 4xx or 5xx status.",
            ("route", "status_class"),
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "aiops_redis_errors",
            "Redis operations that failed after retries.",
            registry=self.registry,
        )
        self.redis_connected = Gauge(
            "aiops_redis_connected",
            "1 if the last Redis operation succeeded, else 0.",
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one served request. ``route`` must be a template, never a raw path."""
        code = str(status)
        self.request_duration.labels(method, route, code).observe(seconds)
        self.requests.labels(method, route, code).inc()
        if status >= 400:
            self.errors.labels(route, f"{status // 100}xx").inc()

    def record_feedback(self, *, source: str, type_: str, severity: str, note: str) -> None:
        """Count one stored feedback document."""
        values = {"source": source, "type": type_, "severity": severity, "note": note}
        if self._feedback_labels:
            self.feedback.labels(*(values[name] for name in self._feedback_labels)).inc()
        else:
            self.feedback.inc()

    def redis_ok(self) -> None:
        """Note a successful Redis round trip."""
        self.redis_connected.set(1)

    def redis_failed(self) -> None:
        """Note a failed Redis operation."""
        self.redis_errors.inc()
        self.redis_connected.set(0)

    def exposition(self) -> bytes:
        """Render the registry in the Prometheus text format."""
        return generate_latest(self.registry)
