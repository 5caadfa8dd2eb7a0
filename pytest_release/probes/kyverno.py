"""Kyverno through the cluster source: policy readiness and policy report results. Facts only.

* ClusterPolicy / Policy (``kyverno.io/v1``): ready when the ``Ready`` condition is ``True``
  (older releases: ``status.ready: true``).
* ValidatingPolicy (``policies.kyverno.io``, the CEL policies; v1alpha1 in 1.14, v1 since 1.17):
  ready at ``status.conditionStatus.ready``. The checklist's ``validatingpolicies.kyverno.io``
  names a group that does not exist; :data:`POLICY_RESOURCES` uses the real one.
* PolicyReport / ClusterPolicyReport (``wgpolicyk8s.io/v1alpha2``): ``summary`` and
  ``results[] {policy, rule, result, resources, message}``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .cluster import ClusterSource, Obj, name_of, namespace_of

#: Where policies live, in lookup order for a bare name.
POLICY_RESOURCES = ("clusterpolicies", "validatingpolicies", "policies")
KIND_TO_PLURAL = {"ClusterPolicy": "clusterpolicies", "ValidatingPolicy": "validatingpolicies",
                  "Policy": "policies"}
RESULT_KINDS = ("pass", "fail", "warn", "error", "skip")


@dataclass(frozen=True)
class PolicyState:
    wanted: str
    kind: str | None           # None: not found
    name: str
    namespace: str | None
    ready: bool | None         # None when not found or no status at all
    reason: str

    @property
    def found(self) -> bool:
        return self.kind is not None


def policy_ready(obj: Obj) -> tuple[bool | None, str]:
    """(ready, why) from a policy object's status."""
    status = obj.get("status") or {}
    if not isinstance(status, dict) or not status:
        return None, "no status (the Kyverno controller has not reconciled it)"
    cond_status = status.get("conditionStatus")
    if isinstance(cond_status, dict) and "ready" in cond_status:
        ready = cond_status.get("ready") is True
        return ready, _condition_message(cond_status.get("conditions")) or (
            "conditionStatus.ready" if ready else "conditionStatus.ready is false")
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            ready = str(cond.get("status")) == "True"
            why = str(cond.get("message") or cond.get("reason") or f"Ready={cond.get('status')}")
            return ready, why
    if "ready" in status:
        return status.get("ready") is True, f"status.ready={status.get('ready')}"
    return None, "status has no Ready condition"


def _condition_message(conditions: Any) -> str:
    for cond in conditions or []:
        if isinstance(cond, dict) and str(cond.get("status")) != "True":
            return str(cond.get("message") or cond.get("reason") or cond.get("type"))
    return ""


def find_policies(cluster: ClusterSource, wanted: Sequence[str], namespace: str) -> list[PolicyState]:
    """The state of each wanted policy: ``NAME`` or ``KIND/NAME`` (``Policy`` in ``namespace``)."""
    states = []
    for spec in wanted:
        kind_hint, _, name = spec.rpartition("/")
        plurals = (KIND_TO_PLURAL[kind_hint],) if kind_hint in KIND_TO_PLURAL else POLICY_RESOURCES
        found: PolicyState | None = None
        for plural in plurals:
            obj = cluster.get(plural, name, namespace if plural == "policies" else None)
            if obj is not None:
                ready, why = policy_ready(obj)
                found = PolicyState(spec, str(obj.get("kind", plural)), name, namespace_of(obj),
                                    ready, why)
                break
        states.append(found or PolicyState(spec, None, name, None, None, "not found"))
    return states


@dataclass(frozen=True)
class ReportResult:
    report: str                # Kind/namespace/name of the report
    policy: str
    rule: str
    result: str
    resources: tuple[str, ...]
    message: str

    def describe(self) -> str:
        where = ", ".join(self.resources) or "(no resource named)"
        msg = f": {self.message}" if self.message else ""
        return f"{self.policy}/{self.rule} on {where}{msg}"


@dataclass(frozen=True)
class ReportSummary:
    reports: tuple[str, ...]
    counts: dict[str, int]
    results: tuple[ReportResult, ...]

    def with_result(self, result: str) -> tuple[ReportResult, ...]:
        return tuple(r for r in self.results if r.result == result)


def _resource_name(res: Any) -> str:
    if not isinstance(res, dict):
        return str(res)
    ns = res.get("namespace")
    return f"{res.get('kind', '?')}/{ns + '/' if ns else ''}{res.get('name', '?')}"


def report_results(cluster: ClusterSource, namespace: str) -> ReportSummary:
    """Results of the namespace's PolicyReports and of ClusterPolicyReport entries about it.

    Counts come from the results themselves; a report that carries only a ``summary`` (no
    results) contributes its summary numbers, so a failure is never lost.
    """
    reports: list[str] = []
    counts = dict.fromkeys(RESULT_KINDS, 0)
    results: list[ReportResult] = []
    sources: list[tuple[Obj, bool]] = [(o, False) for o in cluster.list("policyreports", namespace)]
    sources += [(o, True) for o in cluster.list("clusterpolicyreports")]
    for report, cluster_scoped in sources:
        label = f"{report.get('kind', 'PolicyReport')}/" + (
            f"{namespace_of(report)}/" if namespace_of(report) else "") + name_of(report)
        entries = [r for r in report.get("results") or [] if isinstance(r, dict)]
        kept = 0
        for entry in entries:
            resources = [r for r in entry.get("resources") or [] if isinstance(r, dict)]
            scope = report.get("scope")
            if isinstance(scope, dict) and not resources:
                resources = [scope]
            if cluster_scoped and resources and not any(
                    (r.get("namespace") or namespace) == namespace for r in resources):
                continue
            kept += 1
            outcome = str(entry.get("result", "")).lower()
            if outcome in counts:
                counts[outcome] += 1
            results.append(ReportResult(
                label, str(entry.get("policy", "")), str(entry.get("rule", "")), outcome,
                tuple(_resource_name(r) for r in resources), str(entry.get("message") or "")))
        if not entries and not cluster_scoped:
            summary = report.get("summary") or {}
            for key in RESULT_KINDS:
                value = summary.get(key)
                if isinstance(value, int):
                    counts[key] += value
                    kept += value
        if kept or not cluster_scoped:
            reports.append(label)
    return ReportSummary(tuple(reports), counts, tuple(results))
