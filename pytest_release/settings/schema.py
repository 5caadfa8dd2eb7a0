"""The settings schema: one frozen table per gate or stage, each field declared with :func:`opt`.

This file is the configuration contract: the defaults are the checklist's numbers. A new gate's
table is one class here plus one field on :class:`Settings` (``SECTIONS`` and the README
reference follow from it).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..redact import Redactor
from .kinds import KINDS, AlertSpec, FamilySpec, parse_alert, parse_family, parse_key_value


def opt(
    default: Any,
    kind: str,
    doc: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[str, ...] | None = None,
    secret: bool = False,
) -> Any:
    """Declare a setting: its default (the checklist's number), kind and limits."""
    if kind not in KINDS:
        raise ValueError(f"unknown setting kind {kind!r} (known: {', '.join(KINDS)})")
    meta = {"kind": kind, "doc": doc, "min": min, "max": max, "choices": choices, "secret": secret}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ReleaseSettings:
    version: str | None = opt(None, "str", "release under sign-off (normally from --release)")
    commit: str | None = opt(None, "str", "commit of the release being signed off")
    image: str | None = opt(None, "str", "container image of the release")


@dataclass(frozen=True)
class RedisSettings:
    url: str | None = opt(None, "url", "redis://[:password@]host:port/db of the release's Redis")
    key_patterns: tuple[str, ...] = opt(("feedback:*",), "strlist", "SCAN patterns that must expire")
    ttl_max_seconds: int = opt(604800, "int", "longest allowed TTL (7 days)", min=1)
    sample_size: int = opt(10000, "int", "most keys the TTL audit samples per pattern", min=1)
    scan_count: int = opt(1000, "int", "SCAN COUNT hint", min=1, max=100000)
    maxmemory_policy: str = opt("noeviction", "str", "required maxmemory-policy")
    appendfsync: str = opt(
        "everysec", "str", "required appendfsync", choices=("always", "everysec", "no")
    )
    p95_ms: float = opt(120.0, "float", "P95 command latency limit in ms", min=0.001)
    latency_samples: int = opt(200, "int", "client round trips timed for the P95", min=20)
    config_file: str | None = opt(None, "str", "redis.conf path on the Redis host")
    host: str = opt("local://", "hostspec",
                    "testinfra host spec of the Redis host (local://, ssh://...)")
    timeout_s: float = opt(2.0, "float", "socket timeout for the suite's own client", min=0.01)
    service_client_name: str = opt(
        "feedback-service", "str", "CLIENT SETNAME of the service's Redis connections"
    )
    recovery_s: float = opt(
        5.0, "float", "how long the service may take to answer 2xx after its Redis connections drop",
        min=0.1,
    )


@dataclass(frozen=True)
class ApiSettings:
    url: str | None = opt(None, "url", "base URL of the service under release")
    feedback_path: str = opt("/api/v1/aiops/feedback", "str", "feedback endpoint path")
    token: str | None = opt(None, "str", "bearer token for the checks (use '${ENV_VAR}')", secret=True)
    rate_limit_token: str | None = opt(
        None, "str", "token of a caller reserved for the rate-limit check", secret=True
    )
    signing_key_file: str | None = opt(
        None, "path", "PEM key the service trusts, to mint expired/not-yet-valid test tokens"
    )
    rate_limit_max: int = opt(1000, "int", "largest acceptable per-caller budget", min=1, max=100000)
    timeout_s: float = opt(5.0, "float", "HTTP timeout per request", min=0.01)
    sweep_examples: int = opt(60, "int", "generated bad inputs in the no-5xx sweep", min=0, max=5000)
    metrics_url: str | None = opt(None, "url", "service metrics URL (default: <url>/metrics/aiops)")
    feedback_metric: str = opt("aiops_feedback_total", "str", "feedback counter (sample name)")
    feedback_labels: tuple[str, ...] = opt(
        ("source", "type", "severity"), "strlist", "exact label names of the feedback counter"
    )
    key_prefix: str = opt("feedback:", "str", "Redis key prefix of stored feedback records")


@dataclass(frozen=True)
class LoadSettings:
    script: str = opt(
        "examples/ops/loadtest_feedback_thresholds.k6.js", "path", "k6 script to run"
    )
    k6: str = opt("k6", "str", "k6 executable (name on PATH or path)")
    vus: int = opt(25, "int", "virtual users", min=1, max=10000)
    duration: str = opt("30s", "duration", "load duration")
    max_error_rate: float = opt(0.005, "rate", "highest acceptable error rate")
    p95_ms: float = opt(120.0, "float", "P95 latency limit in ms", min=0.001)
    min_success_rate: float = opt(0.995, "rate", "lowest acceptable check success rate")
    think_time_ms: float = opt(100.0, "float", "pause of each VU between requests", min=0)
    token: str | None = opt(None, "str", "bearer token for the load (default api.token)", secret=True)
    timeout_s: float = opt(120.0, "float", "extra seconds k6 may run beyond the duration", min=1)


@dataclass(frozen=True)
class SecuritySettings:
    pass


@dataclass(frozen=True)
class ObservabilitySettings:
    prometheus_url: str | None = opt(None, "url", "Prometheus base URL")
    alertmanager_url: str | None = opt(None, "url", "Alertmanager base URL")
    scrape_job: str = opt("feedback-service", "str", "Prometheus job scraping the service")
    metrics_url: str | None = opt(None, "url", "service metrics URL (default from api.url)")
    jwks_url: str | None = opt(None, "url", "JWKS URL (default <api.url>/.well-known/jwks.json)")
    timeout_s: float = opt(5.0, "float", "HTTP timeout per request", min=0.01)
    scrape_max_age_intervals: float = opt(
        3.0, "float", "a target's last scrape may be at most this many scrape intervals old", min=1
    )
    metric_families: tuple[str, ...] = opt(
        (
            "aiops_feedback:counter:source,type,severity",
            "aiops_http_request_duration_seconds:histogram:method,route,status",
            "aiops_http_requests:counter:method,route,status",
            "aiops_http_errors:counter",
            "aiops_redis_errors:counter:",
            "aiops_redis_connected:gauge:",
        ),
        "families",
        "required families as NAME:TYPE:LABEL,LABEL (exact label set; NAME:TYPE: = no labels; "
        "NAME:TYPE = labels not checked, e.g. an error counter with no series yet); on the "
        "command line pass a TOML array",
    )
    otel_config_file: str | None = opt(None, "path", "OpenTelemetry Collector config (YAML)")
    otel_sampling_percentage: float = opt(
        10.0, "float", "probabilistic_sampler sampling_percentage (head sampling, %)", min=0, max=100
    )
    otel_error_traces_percentage: float = opt(
        100.0, "float", "share of error traces tail sampling must keep (%)", min=0, max=100
    )
    otel_sdk_env: tuple[str, ...] | None = opt(
        None, "keyvalues", "the service's OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG as KEY=VALUE"
    )
    grafana_url: str | None = opt(None, "url", "Grafana base URL (dashboard read via its HTTP API)")
    grafana_token: str | None = opt(
        None, "str", "Grafana service account token (use '${GRAFANA_TOKEN}')", secret=True
    )
    dashboard_uid: str | None = opt(None, "str", "uid of the service's dashboard in Grafana")
    dashboard_file: str | None = opt(
        None, "path", "dashboard JSON file (used when grafana_url is not set)"
    )
    dashboard_panels: tuple[str, ...] | None = opt(
        None, "strlist", "panel titles the dashboard must have"
    )
    dashboard_variables: tuple[str, ...] | None = opt(
        None, "keyvalues", "template variable values as NAME=VALUE (default: the dashboard's own)"
    )
    dashboard_interval: str = opt("1m", "duration", "value of $__interval when running panel queries")
    dashboard_range: str = opt("1h", "duration", "value of $__range when running panel queries")
    alert_rules: tuple[str, ...] = opt(
        ("FeedbackErrorRateHigh > 0.005", "FeedbackLatencyP95High > 0.15",
         "RedisConnectionFailures > 5"),
        "alerts",
        "alerts that must be loaded, each NAME or NAME OP THRESHOLD (the number its expr compares "
        "with)",
    )
    rule_files: tuple[str, ...] | None = opt(
        None, "strlist", "rule files for promtool (default: the files Prometheus reports, if local)"
    )
    promtool: str = opt("promtool", "str", "promtool executable (name on PATH or path)")
    blocking_severities: tuple[str, ...] = opt(
        ("critical",), "strlist", "alert severities that must not be firing at sign-off"
    )
    jwks_min_rsa_bits: int = opt(2048, "int", "smallest acceptable RSA modulus", min=1024)
    jwks_ec_curves: tuple[str, ...] = opt(
        ("P-256", "P-384", "P-521"), "strlist", "acceptable EC curves"
    )

    # -- the small text formats, parsed (validated at load, so these cannot fail) -------------
    @property
    def families(self) -> tuple[FamilySpec, ...]:
        """``metric_families`` parsed: name, type, exact label names (None: not checked)."""
        return tuple(parse_family(entry) for entry in self.metric_families)

    @property
    def alerts(self) -> tuple[AlertSpec, ...]:
        """``alert_rules`` parsed: name and, when given, the comparison its expr must make."""
        return tuple(parse_alert(entry) for entry in self.alert_rules)

    @property
    def sdk_env(self) -> dict[str, str] | None:
        """``otel_sdk_env`` as a mapping (None when not set)."""
        if self.otel_sdk_env is None:
            return None
        return dict(parse_key_value(entry) for entry in self.otel_sdk_env)

    @property
    def variable_values(self) -> dict[str, str]:
        """``dashboard_variables`` as a mapping (empty when not set)."""
        return dict(parse_key_value(entry) for entry in self.dashboard_variables or ())


@dataclass(frozen=True)
class GitopsSettings:
    pass


# -- other helpers' tables (security, gitops, canary, postdeploy, cluster) go above this line --


@dataclass(frozen=True)
class Settings:
    """The frozen release settings, one attribute per config table.

    Every field whose type is a table class is a config table (``SECTIONS`` is derived from
    them); the fields after the tables are the loader's bookkeeping.
    """

    release: ReleaseSettings
    redis: RedisSettings
    api: ApiSettings
    load: LoadSettings
    security: SecuritySettings
    observability: ObservabilitySettings
    gitops: GitopsSettings
    source: str | None = None
    secrets: frozenset[str] = frozenset()
    #: Where relative paths given outside a ``path`` kind (``rule_files``) start from.
    base_dir: str | None = None

    # -- derived values: computed here once, never in fixtures or gate tests ------------------
    @property
    def service_metrics_url(self) -> str | None:
        """``observability.metrics_url``, else ``api.metrics_url``, else ``<api.url>/metrics/aiops``."""
        return (self.observability.metrics_url or self.api.metrics_url
                or (self.api.url.rstrip("/") + "/metrics/aiops" if self.api.url else None))

    @property
    def jwks_url(self) -> str | None:
        """``observability.jwks_url``, else ``<api.url>/.well-known/jwks.json``."""
        return (self.observability.jwks_url
                or (self.api.url.rstrip("/") + "/.well-known/jwks.json" if self.api.url else None))

    @property
    def load_token(self) -> str | None:
        """The bearer token of the load: ``load.token``, else ``api.token``."""
        return self.load.token or self.api.token

    @property
    def load_token_variable(self) -> str:
        """The environment variable the load's reproduce command names for its token."""
        return "LOAD_TOKEN" if self.load.token else "API_TOKEN"

    @property
    def rule_files(self) -> tuple[str, ...]:
        """``observability.rule_files`` as absolute paths (relative to the config file's dir)."""
        base = Path(self.base_dir or ".")
        paths = (Path(f).expanduser() for f in self.observability.rule_files or ())
        return tuple(str(p if p.is_absolute() else base / p) for p in paths)

    # -- wording and secrets ----------------------------------------------------------------------
    def checklist_values(self) -> dict[str, object]:
        """The thresholds in force, worded like the checklist (for the item texts)."""
        return checklist_values(self)

    @property
    def redactor(self) -> Redactor:
        return Redactor(self.secrets)

    def redact(self, text: str) -> str:
        """Replace every known secret (and its URL-encoded form) in ``text`` with ``***``."""
        return self.redactor(text)

    def redact_data(self, data: Any) -> Any:
        """:meth:`redact` applied to every string of a JSON-like structure."""
        return self.redactor.data(data)

    def __repr__(self) -> str:
        return f"Settings(source={self.source!r}, release={self.release.version!r})"


def checklist_values(settings: Any) -> dict[str, object]:
    """Thresholds worded like the checklist, from a :class:`Settings` (or :func:`defaults`)."""
    def number(value: float) -> str:
        return f"{value:g}"

    def percent(rate: float) -> str:
        return f"{rate * 100:g}%"

    redis, load = settings.redis, settings.load
    days, rest = divmod(redis.ttl_max_seconds, 86400)
    values: dict[str, object] = {
        "redis_ttl": f"{days} days" if not rest else f"{redis.ttl_max_seconds} s",
        "redis_maxmemory_policy": redis.maxmemory_policy,
        "redis_p95_ms": number(redis.p95_ms),
        "load_max_error_rate": percent(load.max_error_rate),
        "load_p95_ms": number(load.p95_ms),
        "load_min_success_rate": percent(load.min_success_rate),
        "load_duration": load.duration,
        "load_vus": load.vus,
    }
    if settings.release.version:
        values["release_version"] = settings.release.version
    return values


def _table_types() -> dict[str, type]:
    import typing

    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings)
            if dataclasses.is_dataclass(hints[f.name])}


#: table name → table class, in config order (derived from the fields of :class:`Settings`).
SECTIONS: dict[str, type] = _table_types()


def defaults() -> Settings:
    """Settings with every table at its defaults (the checklist's numbers)."""
    return Settings(**{name: cls() for name, cls in SECTIONS.items()})
