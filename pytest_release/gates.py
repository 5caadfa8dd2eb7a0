"""The gate catalogue: the single source for markers, report order and checklist wording.

The wording follows the release checklist (v5.7.1's) so that the Markdown sign-off reads like the
document release managers already know; every item additionally names the check that earns it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .settings.schema import checklist_values, defaults

#: The release an item text names when no release is given (the seed checklist's own).
EXAMPLE_VERSION = "v5.7.1"

#: The checklist's own numbers, from the settings defaults: with these, every item reads
#: exactly as in the seed checklist.
CHECKLIST_VALUES: dict[str, object] = {"release_version": EXAMPLE_VERSION,
                                       **checklist_values(defaults())}


PRE_DEPLOYMENT = "pre-deployment"


@dataclass(frozen=True)
class Item:
    """One checklist line inside a gate; ``{placeholders}`` take the thresholds in force."""

    id: str
    text: str

    def render(self, values: Mapping[str, object] | None = None) -> str:
        return self.text.format_map({**CHECKLIST_VALUES, **(values or {})})


@dataclass(frozen=True)
class Gate:
    """A pre-deployment gate: all of its items must be measured and pass."""

    id: str
    number: int
    title: str
    items: tuple[Item, ...]
    validation_label: str
    validation: tuple[str, ...]
    #: "pre-deployment" (the six gates, the only ones the verdict is computed from), "canary" or
    #: "postdeploy" (issue 10: stages shown after the gates, driving the recommendation).
    stage: str = "pre-deployment"

    @property
    def marker(self) -> str:
        return f"gate_{self.id}" if self.stage == PRE_DEPLOYMENT else f"stage_{self.id}"

    @property
    def label(self) -> str:
        """``Gate 3`` for a pre-deployment gate, ``Stage`` for the canary/post-deployment stages."""
        return f"Gate {self.number}" if self.stage == PRE_DEPLOYMENT else "Stage"

    def rendered(self, values: Mapping[str, object] | None) -> Gate:
        """This gate with its item wording (and the release in its commands) from ``values``."""
        items = tuple(Item(i.id, i.render(values)) for i in self.items)
        version = str({**CHECKLIST_VALUES, **(values or {})}["release_version"])
        # Commands carry JSON braces: only the release placeholder is replaced in them.
        validation = tuple(c.replace("{release_version}", version) for c in self.validation)
        return Gate(self.id, self.number, self.title, items, self.validation_label, validation,
                    self.stage)

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        known = ", ".join(i.id for i in self.items)
        raise KeyError(f"gate {self.id!r} has no item {item_id!r} (known: {known})")


GATES: tuple[Gate, ...] = (
    Gate(
        "redis",
        1,
        "Redis Persistence",
        (
            Item("ttl", "TTL: {redis_ttl} configured"),
            Item("maxmemory", "Maxmemory policy: {redis_maxmemory_policy}"),
            Item("aof", "Persistence: AOF enabled"),
            Item("persisted_config", "Persisted config matches running config"),
            Item("retry", "Retry strategy: Active"),
            Item("p95", "Performance: P95 < {redis_p95_ms}ms"),
        ),
        "Validation",
        (
            "redis-cli INFO keyspace",
            "redis-cli CONFIG GET maxmemory-policy",
            "redis-cli CONFIG GET save",
        ),
    ),
    Gate(
        "api",
        2,
        "API Validation",
        (
            Item("schema", "Zod schema validation active"),
            Item("jwt", "JWT authentication configured"),
            Item("rate_limit", "Rate limiting enabled"),
            Item("error_codes", "Error handling proper 4xx codes"),
            Item("metrics_labels", "Metrics labeled correctly"),
            Item("stored_ttl", "Stored records expire within {redis_ttl}"),
        ),
        "Validation",
        (
            "curl -X POST http://localhost:8080/api/v1/aiops/feedback \\",
            '  -H "Content-Type: application/json" \\',
            "  -d '{\"metric\":\"test\",\"anomaly\":true,\"verdict\":false,\"source\":\"api\","
            "\"type\":\"bug\",\"severity\":\"low\",\"note\":\"test\"}'",
        ),
    ),
    Gate(
        "load",
        3,
        "Load Test",
        (
            Item("error_rate", "Error rate: < {load_max_error_rate}"),
            Item("p95", "P95 latency: < {load_p95_ms}ms"),
            Item("success_rate", "Success rate: > {load_min_success_rate}"),
            Item("profile", "Duration: {load_duration} with {load_vus} VUs"),
        ),
        "Run",
        ("k6 run ops/loadtest_feedback_thresholds.k6.js",),
    ),
    Gate(
        "security",
        4,
        "Security",
        (
            Item("trivy", "Trivy: CRITICAL = {security_max_critical}"),
            Item("cosign", "Cosign: Signature verified"),
            Item("kyverno", "Kyverno: Policies passing"),
            Item("opa", "OPA: Authorization passing"),
            Item("rbac", "RBAC: Least privilege enforced"),
        ),
        "Commands",
        (
            "trivy image --exit-code 1 --severity CRITICAL,HIGH "
            "ghcr.io/your-org/cpt-ajan-backend:{release_version}",
            "cosign verify ghcr.io/your-org/cpt-ajan-backend:{release_version}",
            "kubectl get validatingpolicies.kyverno.io -A",
        ),
    ),
    Gate(
        "observability",
        5,
        "Observability",
        (
            Item("scraping", "Prometheus scraping: Active"),
            Item("otel", "OTel: Probabilistic 10%, Tail sampling 100%"),
            Item("metrics", "AIOps metrics exposed"),
            Item("jwks", "JWKS served correctly"),
            Item("dashboard", "Grafana dashboard configured"),
            Item("alerts", "Alerts active"),
        ),
        "Validation",
        (
            "curl http://localhost:3000/metrics/aiops",
            "curl http://localhost:3000/.well-known/jwks.json",
        ),
    ),
    Gate(
        "gitops",
        6,
        "GitOps",
        (
            Item("synced", "ArgoCD: Synced"),
            Item("healthy", "Health: Healthy"),
            Item("canary", "Canary strategy: Defined"),
            Item("rollback", "Auto-rollback: Configured"),
            Item("tag", "Git tag: {release_version}"),
        ),
        "Validation",
        ("argocd app get cpt-ajan", "git tag {release_version}"),
    ),
)

# -- stages after the gates (issue 10) ---------------------------------------------------------------
STAGE_ORDER: tuple[str, ...] = (PRE_DEPLOYMENT, "canary", "postdeploy")

STAGES: tuple[Gate, ...] = (
    Gate(
        "canary",
        7,
        "Canary",
        (
            Item("analysis_error_rate", "feedback-error-rate: < 0.5% (live analysis)"),
            Item("analysis_latency", "feedback-latency: P95 < 150ms (live analysis)"),
            Item("analysis_redis", "redis-health: connection status > 0 (live analysis)"),
            Item("trigger_error_rate", "Rollback: error rate > 0.5% for 10 minutes"),
            Item("trigger_latency", "Rollback: P95 latency > 150ms for 5 minutes"),
            Item("trigger_consecutive", "Rollback: 2 consecutive analysis failures"),
            Item("trigger_redis", "Rollback: Redis connection failures > 5 in 5 minutes"),
        ),
        "Run (while the canary is live)",
        ("pytest --release v5.7.1 -m stage_canary",),
        "canary",
    ),
    Gate(
        "postdeploy",
        8,
        "Post-Deployment (24h)",
        (
            Item("burn_rate", "Error budget burn rate < 10%"),
            Item("drift", "No drift from deployment SHA"),
            Item("slo", "Performance within SLO"),
            Item("security", "No security incidents"),
            Item("alerts", "No critical alerts"),
        ),
        "Run (24 h after full rollout)",
        ("pytest --release v5.7.1 -m stage_postdeploy",),
        "postdeploy",
    ),
)

#: Everything the sign-off shows: the six gates, then the stages.
CATALOGUE: tuple[Gate, ...] = GATES + STAGES

GATES_BY_ID: dict[str, Gate] = {g.id: g for g in CATALOGUE}
GATES_BY_MARKER: dict[str, Gate] = {g.marker: g for g in CATALOGUE}

#: Marker that ties a check to the checklist line it earns.
ITEM_MARKER = "release_item"


def status_words(status: str) -> str:
    """A status as people read it (``not_run`` → ``not run``), for reasons and views."""
    return status.replace("_", " ")
